/* Unit tests for rootfs/oci.c: image index, manifest, config and docker
 * save manifest.json parsing, validation and platform selection.
 *
 * Documents are written with ' for " (jq() swaps them) so they stay
 * readable; none of them needs a real apostrophe. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/cleanup.h"
#include "common/xalloc.h"
#include "rootfs/oci.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define H0 "5feceb66ffc86f38d952786c6d696c79c2dbc239dd4e91b46729d73a27fb57e9"
#define H1 "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b"
#define H2 "d4735e3a265e16eee03f59718b9b5d03019c07d8b6c51f90da3a666eec13ab35"
#define H3 "4e07408562bedb8b60ce05c1decfe3ad16b72230967de01f640b7e4729b49fce"
#define H4 "4b227777d4dd1fc61c6f884f48641d02b4d121d3fd328cb08b5531fcacdabf8a"
#define H5 "ef2d127de37b942baad06145e54b0c619a1f22327b2ebbcfbec78f5564afe39d"
#define H6 "e7f6c011776e8db7cd330b54174fd76f7d0216b612387a5ffcfb81e6f0919683"
#define H7 "7902699be42c8a8e46fbbb4501726517e86b22c56a189f7625a6da49081b2451"
#define H8 "2c624232cdd221771294dfbb310aca000a0df6ac8b66b696d90ef06fdefb64a3"

#define MT_IDX   "'mediaType':'application/vnd.oci.image.index.v1+json'"
#define MT_MAN   "'mediaType':'application/vnd.oci.image.manifest.v1+json'"
#define MT_CFG   "'mediaType':'application/vnd.oci.image.config.v1+json'"
#define MT_GZ    "'mediaType':'application/vnd.oci.image.layer.v1.tar+gzip'"
#define MT_DMAN  "'mediaType':'application/vnd.docker.distribution.manifest.v2+json'"
#define DESC(mt, h, size) "{" mt ",'digest':'sha256:" h "','size':" #size

/* A copy of s with every ' turned into ". */
static char *jq(const char *s)
{
	char *r = xstrdup(s);

	for (char *p = r; *p; p++)
		if (*p == '\'')
			*p = '"';
	return r;
}

/* ------------------------------------------------------------ harnesses */

/* Parse doc and expect failure with exactly msg; the struct must be left
 * zeroed and freeing it (again) must be fine. */
static void index_err(const char *doc, const char *msg)
{
	cleanup_free char *j = jq(doc);
	struct oci_index x, zero;
	struct berr *err = NULL;

	memset(&x, 0x5a, sizeof(x));   /* the parser must not trust *out */
	memset(&zero, 0, sizeof(zero));
	assert_true(oci_index_parse(j, strlen(j), "index.json", &x, &err) < 0);
	assert_non_null(err);
	assert_string_equal(berr_msg(err), msg);
	assert_memory_equal(&x, &zero, sizeof(x));
	oci_index_free(&x);
	berr_clear(&err);
}

static void manifest_err(const char *doc, const char *msg)
{
	cleanup_free char *j = jq(doc);
	struct oci_manifest x, zero;
	struct berr *err = NULL;

	memset(&x, 0x5a, sizeof(x));
	memset(&zero, 0, sizeof(zero));
	assert_true(oci_manifest_parse(j, strlen(j), "blob sha256:" H1, &x, &err) < 0);
	assert_non_null(err);
	assert_string_equal(berr_msg(err), msg);
	assert_memory_equal(&x, &zero, sizeof(x));
	oci_manifest_free(&x);
	berr_clear(&err);
}

static void config_err(const char *doc, const char *msg)
{
	cleanup_free char *j = jq(doc);
	struct oci_image_config x, zero;
	struct berr *err = NULL;

	memset(&x, 0x5a, sizeof(x));
	memset(&zero, 0, sizeof(zero));
	assert_true(oci_config_parse(j, strlen(j), "config", &x, &err) < 0);
	assert_non_null(err);
	assert_string_equal(berr_msg(err), msg);
	assert_memory_equal(&x, &zero, sizeof(x));
	oci_config_free(&x);
	berr_clear(&err);
}

static void archive_err(const char *doc, const char *msg)
{
	cleanup_free char *j = jq(doc);
	struct docker_archive_manifest x, zero;
	struct berr *err = NULL;

	memset(&x, 0x5a, sizeof(x));
	memset(&zero, 0, sizeof(zero));
	assert_true(docker_archive_manifest_parse(j, strlen(j), "manifest.json in web.tar", &x,
						  &err) < 0);
	assert_non_null(err);
	assert_string_equal(berr_msg(err), msg);
	assert_memory_equal(&x, &zero, sizeof(x));
	docker_archive_manifest_free(&x);
	berr_clear(&err);
}

static void parse_index_ok(const char *doc, struct oci_index *x)
{
	cleanup_free char *j = jq(doc);
	struct berr *err = NULL;

	if (oci_index_parse(j, strlen(j), "index.json", x, &err) < 0)
		fail_msg("%s", berr_msg(err));
}

static void parse_manifest_ok(const char *doc, struct oci_manifest *x)
{
	cleanup_free char *j = jq(doc);
	struct berr *err = NULL;

	if (oci_manifest_parse(j, strlen(j), "manifest", x, &err) < 0)
		fail_msg("%s", berr_msg(err));
}

static void parse_config_ok(const char *doc, struct oci_image_config *x)
{
	cleanup_free char *j = jq(doc);
	struct berr *err = NULL;

	if (oci_config_parse(j, strlen(j), "config", x, &err) < 0)
		fail_msg("%s", berr_msg(err));
}

static void parse_archive_ok(const char *doc, struct docker_archive_manifest *x)
{
	cleanup_free char *j = jq(doc);
	struct berr *err = NULL;

	if (docker_archive_manifest_parse(j, strlen(j), "manifest.json", x, &err) < 0)
		fail_msg("%s", berr_msg(err));
}

static size_t strv_len(char **v)
{
	size_t n = 0;

	while (v[n])
		n++;
	return n;
}

/* ------------------------------------------------------------ documents */

/* As buildkit pushes a multi-platform image with provenance: every image
 * manifest followed later by its attestation manifest (unknown/unknown). */
static const char multi_index[] =
	"{'schemaVersion':2," MT_IDX ",'manifests':["
	DESC(MT_MAN, H1, 1611) ",'platform':{'architecture':'amd64','os':'linux'}},"
	DESC(MT_MAN, H2, 1611) ",'platform':{'architecture':'arm','os':'linux','variant':'v6'}},"
	DESC(MT_MAN, H3, 1611) ",'platform':{'architecture':'arm','os':'linux','variant':'v7'}},"
	DESC(MT_MAN, H4, 1611) ",'platform':{'architecture':'arm64','os':'linux','variant':'v8'}},"
	DESC(MT_MAN, H5, 1611) ",'platform':{'architecture':'ppc64le','os':'linux'}},"
	DESC(MT_MAN, H6, 839) ",'annotations':{'vnd.docker.reference.digest':'sha256:" H1 "',"
		"'vnd.docker.reference.type':'attestation-manifest'},"
		"'platform':{'architecture':'unknown','os':'unknown'}},"
	DESC(MT_MAN, H7, 839) ",'annotations':{'vnd.docker.reference.digest':'sha256:" H4 "',"
		"'vnd.docker.reference.type':'attestation-manifest'},"
		"'platform':{'architecture':'unknown','os':'unknown'}}],"
	"'annotations':{'org.opencontainers.image.created':'2024-01-01T00:00:00Z'}}";

static const char oci_manifest_doc[] =
	"{'schemaVersion':2," MT_MAN ","
	"'config':" DESC(MT_CFG, H0, 1472) "},"
	"'layers':["
	DESC(MT_GZ, H1, 3408729) "},"
	DESC("'mediaType':'application/vnd.oci.image.layer.v1.tar+zstd'", H2, 1024) "},"
	DESC("'mediaType':'application/vnd.oci.image.layer.v1.tar'", H3, 10240) "},"
	DESC("'mediaType':'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip'", H4, 77) "},"
	DESC("'mediaType':'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd'", H5, 78) ",'urls':['https://example.com/l']}],"
	"'annotations':{'org.opencontainers.image.base.name':'docker.io/library/alpine:3.19'}}";

/* Shaped after debian:bookworm's config, with the fields berth ignores. */
static const char debian_config[] =
	"{'architecture':'amd64',"
	"'config':{'Hostname':'','Domainname':'','User':'','AttachStdin':false,"
	"'AttachStdout':false,'AttachStderr':false,'ExposedPorts':{'80/tcp':{},'443/tcp':{}},"
	"'Tty':false,'OpenStdin':false,'StdinOnce':false,"
	"'Env':['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',"
	"'NGINX_VERSION=1.25.3','EMPTY='],"
	"'Cmd':['nginx','-g','daemon off;'],'Image':'sha256:" H8 "',"
	"'Volumes':{'/var/cache/nginx':{}},'WorkingDir':'/srv','Entrypoint':['/docker-entrypoint.sh'],"
	"'OnBuild':null,'Labels':{'maintainer':'NGINX Docker Maintainers','org.opencontainers.image.version':'1.25'},"
	"'StopSignal':'SIGQUIT',"
	"'Healthcheck':{'Test':['CMD-SHELL','curl -f http://localhost/ || exit 1'],'Interval':30000000000,'Retries':3}},"
	"'container':'9f4e1c',"
	"'container_config':{'Cmd':['/bin/sh','-c','#(nop) ','CMD [\\'bash\\']']},"
	"'created':'2023-12-19T01:20:00.123456789Z','docker_version':'20.10.23',"
	"'history':[{'created':'2023-12-19T01:19:58Z','created_by':'/bin/sh -c #(nop) ADD file:abc in / '},"
	"{'created':'2023-12-19T01:20:00Z','created_by':'/bin/sh -c #(nop)  CMD [\\'bash\\']','empty_layer':true}],"
	"'os':'linux',"
	"'rootfs':{'type':'layers','diff_ids':['sha256:" H5 "','sha256:" H6 "']}}";

/* ------------------------------------------------------- valid: indexes */

static void test_index_multi_platform(void **state)
{
	struct oci_index x;
	struct berr *err = NULL;
	size_t i = 99;

	(void)state;
	parse_index_ok(multi_index, &x);
	assert_string_equal(x.media_type, OCI_MT_INDEX);
	assert_int_equal(x.n_manifests, 7);
	assert_string_equal(x.manifests[0].media_type, OCI_MT_MANIFEST);
	assert_string_equal(x.manifests[0].digest.hex, H1);
	assert_int_equal(x.manifests[0].size, 1611);
	assert_string_equal(x.manifests[0].platform.os, "linux");
	assert_string_equal(x.manifests[0].platform.architecture, "amd64");
	assert_null(x.manifests[0].platform.variant);
	assert_string_equal(x.manifests[2].platform.variant, "v7");
	assert_null(x.manifests[0].ref_name);
	assert_string_equal(x.manifests[5].platform.os, "unknown");

	assert_int_equal(oci_index_select(&x, "index.json", "linux", "amd64", NULL, &i, &err), 0);
	assert_int_equal(i, 0);
	/* the aliases a uname gives */
	assert_int_equal(oci_index_select(&x, "index.json", "linux", "x86_64", NULL, &i, &err), 0);
	assert_int_equal(i, 0);
	/* arm64 with no variant asked for is the v8 entry */
	assert_int_equal(oci_index_select(&x, "index.json", "linux", "arm64", NULL, &i, &err), 0);
	assert_int_equal(i, 3);
	assert_int_equal(oci_index_select(&x, "index.json", "linux", "aarch64", "v8", &i, &err), 0);
	assert_int_equal(i, 3);
	/* arm without a variant prefers v7 although v6 comes first */
	assert_int_equal(oci_index_select(&x, "index.json", "linux", "arm", NULL, &i, &err), 0);
	assert_int_equal(i, 2);
	assert_int_equal(oci_index_select(&x, "index.json", "linux", "arm", "v6", &i, &err), 0);
	assert_int_equal(i, 1);
	assert_int_equal(oci_index_select(&x, "index.json", "linux", "arm", "7", &i, &err), 0);
	assert_int_equal(i, 2);
	assert_int_equal(oci_index_select(&x, "index.json", "linux", "ppc64le", NULL, &i, &err), 0);
	assert_int_equal(i, 4);
	assert_int_equal(oci_index_select(&x, "index.json", NULL, NULL, NULL, &i, &err), 0);
	assert_int_equal(i, 0);
	assert_null(err);
	oci_index_free(&x);
	assert_null(x.manifests);
	assert_int_equal(x.n_manifests, 0);
}

static void test_index_docker_list(void **state)
{
	static const char doc[] =
		"{'schemaVersion':2,'mediaType':'application/vnd.docker.distribution.manifest.list.v2+json',"
		"'manifests':["
		DESC(MT_DMAN, H1, 529) ",'platform':{'architecture':'amd64','os':'linux'}},"
		DESC(MT_DMAN, H2, 529) ",'platform':{'architecture':'arm64','os':'linux','variant':'v8'}},"
		DESC(MT_DMAN, H3, 1125) ",'platform':{'architecture':'amd64','os':'windows',"
			"'os.version':'10.0.17763.5206','os.features':['win32k']}}]}";
	struct oci_index x;
	struct berr *err = NULL;
	size_t i = 99;

	(void)state;
	parse_index_ok(doc, &x);
	assert_string_equal(x.media_type, DOCKER_MT_LIST);
	assert_int_equal(x.n_manifests, 3);
	assert_string_equal(x.manifests[1].media_type, DOCKER_MT_MANIFEST);
	assert_string_equal(x.manifests[2].platform.os, "windows");
	assert_int_equal(oci_index_select(&x, "l", "linux", "arm64", NULL, &i, &err), 0);
	assert_int_equal(i, 1);
	assert_int_equal(oci_index_select(&x, "l", "windows", "amd64", NULL, &i, &err), 0);
	assert_int_equal(i, 2);
	oci_index_free(&x);
}

/* docker save (v25+) and skopeo write an index without platforms, naming
 * the image in annotations; buildkit's oci exporter nests an index. */
static void test_index_layout_without_platform(void **state)
{
	static const char doc[] =
		"{'schemaVersion':2," MT_IDX ",'manifests':["
		DESC("'mediaType':'application/vnd.oci.image.index.v1+json'", H1, 856) ","
		"'annotations':{'io.containerd.image.name':'docker.io/library/web:1.0',"
		"'org.opencontainers.image.ref.name':'1.0'}},"
		DESC(MT_MAN, H2, 400) "}]}";
	struct oci_index x;
	struct berr *err = NULL;
	size_t i = 99;

	(void)state;
	parse_index_ok(doc, &x);
	assert_string_equal(x.manifests[0].ref_name, "1.0");
	assert_string_equal(x.manifests[0].image_name, "docker.io/library/web:1.0");
	assert_null(x.manifests[1].ref_name);
	assert_null(x.manifests[1].platform.os);
	assert_true(oci_media_type_is_index(x.manifests[0].media_type));
	/* no entry has a platform: the first image there is taken, whatever is asked */
	assert_int_equal(oci_index_select(&x, "index.json", "linux", "arm64", NULL, &i, &err), 0);
	assert_int_equal(i, 0);
	oci_index_free(&x);
}

/* An index whose mediaType is absent (allowed by OCI) is still an index. */
static void test_index_without_media_type(void **state)
{
	static const char doc[] =
		"{'schemaVersion':2,'manifests':[" DESC(MT_MAN, H1, 10) "}]}";
	struct oci_index x;

	(void)state;
	parse_index_ok(doc, &x);
	assert_string_equal(x.media_type, OCI_MT_INDEX);
	assert_int_equal(x.n_manifests, 1);
	oci_index_free(&x);
}

/* Entries of a type that is no image (an artifact, a signature) are kept
 * by the parser, as the spec asks, and skipped by select. */
static void test_index_unknown_entry_types(void **state)
{
	static const char doc[] =
		"{'schemaVersion':2,'manifests':["
		DESC("'mediaType':'application/vnd.cncf.notary.signature'", H1, 10) ","
			"'platform':{'architecture':'amd64','os':'linux'}},"
		DESC(MT_MAN, H2, 10) ",'platform':{'architecture':'amd64','os':'linux'}}]}";
	struct oci_index x;
	struct berr *err = NULL;
	size_t i = 99;

	(void)state;
	parse_index_ok(doc, &x);
	assert_int_equal(x.n_manifests, 2);
	assert_int_equal(oci_index_select(&x, "i", "linux", "amd64", NULL, &i, &err), 0);
	assert_int_equal(i, 1);
	oci_index_free(&x);
}

/* amd64 micro-architecture levels: asking for v3 takes v3, else the
 * nearest lower level; asking for nothing takes the baseline. */
static void test_select_amd64_levels(void **state)
{
	static const char doc[] =
		"{'schemaVersion':2,'manifests':["
		DESC(MT_MAN, H1, 1) ",'platform':{'architecture':'amd64','os':'linux','variant':'v3'}},"
		DESC(MT_MAN, H2, 1) ",'platform':{'architecture':'amd64','os':'linux'}},"
		DESC(MT_MAN, H3, 1) ",'platform':{'architecture':'amd64','os':'linux','variant':'v2'}}]}";
	struct oci_index x;
	struct berr *err = NULL;
	size_t i = 99;

	(void)state;
	parse_index_ok(doc, &x);
	assert_int_equal(oci_index_select(&x, "i", "linux", "amd64", NULL, &i, &err), 0);
	assert_int_equal(i, 1);
	assert_int_equal(oci_index_select(&x, "i", "linux", "amd64", "v1", &i, &err), 0);
	assert_int_equal(i, 1);
	assert_int_equal(oci_index_select(&x, "i", "linux", "amd64", "v3", &i, &err), 0);
	assert_int_equal(i, 0);
	assert_int_equal(oci_index_select(&x, "i", "linux", "amd64", "v4", &i, &err), 0);
	assert_int_equal(i, 0);
	oci_index_free(&x);

	/* only v3 there: a baseline request does not run it... unless nothing
	 * else is there and no variant was asked for */
	{
		static const char only3[] =
			"{'schemaVersion':2,'manifests':["
			DESC(MT_MAN, H1, 1) ",'platform':{'architecture':'amd64','os':'linux','variant':'v3'}}]}";

		parse_index_ok(only3, &x);
		assert_int_equal(oci_index_select(&x, "i", "linux", "amd64", NULL, &i, &err), 0);
		assert_int_equal(i, 0);
		assert_true(oci_index_select(&x, "i", "linux", "amd64", "v2", &i, &err) < 0);
		assert_string_equal(berr_msg(err), "i: no image for linux/amd64/v2 (available: linux/amd64/v3)");
		berr_clear(&err);
		oci_index_free(&x);
	}
}

/* ----------------------------------------------------- valid: manifests */

static void test_manifest_oci_layers(void **state)
{
	struct oci_manifest m;

	(void)state;
	parse_manifest_ok(oci_manifest_doc, &m);
	assert_string_equal(m.media_type, OCI_MT_MANIFEST);
	assert_string_equal(m.config.media_type, OCI_MT_CONFIG);
	assert_string_equal(m.config.digest.hex, H0);
	assert_int_equal(m.config.size, 1472);
	assert_int_equal(m.n_layers, 5);
	assert_string_equal(m.layers[0].digest.hex, H1);
	assert_int_equal(m.layers[0].size, 3408729);
	assert_int_equal(m.layer_comp[0], ROOTFS_COMP_GZIP);
	assert_int_equal(m.layer_comp[1], ROOTFS_COMP_ZSTD);
	assert_int_equal(m.layer_comp[2], ROOTFS_COMP_NONE);
	assert_int_equal(m.layer_comp[3], ROOTFS_COMP_GZIP);
	assert_int_equal(m.layer_comp[4], ROOTFS_COMP_ZSTD);
	assert_string_equal(m.layers[4].media_type,
			    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd");
	oci_manifest_free(&m);
	assert_null(m.layers);
	assert_null(m.layer_comp);
	assert_null(m.media_type);
}

/* As registry-1.docker.io serves one, with a foreign (windows) layer. */
static void test_manifest_docker_schema2(void **state)
{
	static const char doc[] =
		"{\n  'schemaVersion': 2,\n  " MT_DMAN ",\n"
		"  'config': {\n    'mediaType': 'application/vnd.docker.container.image.v1+json',\n"
		"    'size': 7023,\n    'digest': 'sha256:" H0 "'\n  },\n"
		"  'layers': [\n"
		"    {'mediaType': 'application/vnd.docker.image.rootfs.diff.tar.gzip','size': 32654,"
		"'digest': 'sha256:" H1 "'},\n"
		"    {'mediaType': 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip','size': 16724,"
		"'digest': 'sha256:" H2 "','urls': ['https://mcr.microsoft.com/v2/x/blobs/sha256:" H2 "']},\n"
		"    {'mediaType': 'application/vnd.docker.image.rootfs.diff.tar','size': 73109,"
		"'digest': 'sha256:" H3 "'}\n  ]\n}\n";
	struct oci_manifest m;

	(void)state;
	parse_manifest_ok(doc, &m);
	assert_string_equal(m.media_type, DOCKER_MT_MANIFEST);
	assert_string_equal(m.config.media_type, DOCKER_MT_CONFIG);
	assert_int_equal(m.config.size, 7023);
	assert_int_equal(m.n_layers, 3);
	assert_int_equal(m.layer_comp[0], ROOTFS_COMP_GZIP);
	assert_int_equal(m.layer_comp[1], ROOTFS_COMP_GZIP);
	assert_int_equal(m.layer_comp[2], ROOTFS_COMP_NONE);
	assert_int_equal(m.layers[2].size, 73109);
	oci_manifest_free(&m);
}

/* No mediaType (OCI makes it optional), no layers (FROM scratch + CMD). */
static void test_manifest_minimal(void **state)
{
	static const char doc[] =
		"{'schemaVersion':2,'config':" DESC(MT_CFG, H0, 2) "},'layers':[]}";
	struct oci_manifest m;

	(void)state;
	parse_manifest_ok(doc, &m);
	assert_string_equal(m.media_type, OCI_MT_MANIFEST);
	assert_int_equal(m.n_layers, 0);
	oci_manifest_free(&m);
}

/* ------------------------------------------------------- valid: configs */

static void test_config_full(void **state)
{
	struct oci_image_config c;

	(void)state;
	parse_config_ok(debian_config, &c);
	assert_string_equal(c.platform.os, "linux");
	assert_string_equal(c.platform.architecture, "amd64");
	assert_null(c.platform.variant);
	assert_string_equal(c.created, "2023-12-19T01:20:00.123456789Z");
	assert_int_equal(strv_len(c.entrypoint), 1);
	assert_string_equal(c.entrypoint[0], "/docker-entrypoint.sh");
	assert_int_equal(strv_len(c.cmd), 3);
	assert_string_equal(c.cmd[2], "daemon off;");
	assert_int_equal(strv_len(c.env), 3);
	assert_string_equal(c.env[1], "NGINX_VERSION=1.25.3");
	assert_string_equal(c.env[2], "EMPTY=");
	assert_string_equal(c.working_dir, "/srv");
	assert_null(c.user);   /* "" is docker's "unset" */
	assert_string_equal(c.stop_signal, "SIGQUIT");
	assert_int_equal(strv_len(c.exposed_ports), 2);
	assert_string_equal(c.exposed_ports[0], "80/tcp");
	assert_string_equal(c.exposed_ports[1], "443/tcp");
	assert_int_equal(c.n_labels, 2);
	assert_string_equal(c.labels[0].key, "maintainer");
	assert_string_equal(c.labels[0].value, "NGINX Docker Maintainers");
	assert_string_equal(c.labels[1].key, "org.opencontainers.image.version");
	assert_int_equal(c.n_diff_ids, 2);
	assert_string_equal(c.diff_ids[0].hex, H5);
	assert_string_equal(c.diff_ids[1].hex, H6);
	oci_config_free(&c);
	assert_null(c.env);
	assert_null(c.labels);
}

/* alpine's: null Entrypoint and Labels, empty WorkingDir, arm64 variant. */
static void test_config_alpine(void **state)
{
	static const char doc[] =
		"{'architecture':'arm64','variant':'v8','config':{'Env':['PATH=/bin'],"
		"'Cmd':['/bin/sh'],'WorkingDir':'','Entrypoint':null,'Labels':null,'OnBuild':null},"
		"'created':'2024-01-27T00:00:00Z','history':[],'os':'linux',"
		"'rootfs':{'type':'layers','diff_ids':['sha256:" H3 "']}}";
	struct oci_image_config c;

	(void)state;
	parse_config_ok(doc, &c);
	assert_string_equal(c.platform.variant, "v8");
	assert_null(c.entrypoint);
	assert_int_equal(strv_len(c.cmd), 1);
	assert_null(c.working_dir);
	assert_int_equal(c.n_labels, 0);
	assert_non_null(c.exposed_ports);
	assert_null(c.exposed_ports[0]);
	assert_int_equal(c.n_diff_ids, 1);
	oci_config_free(&c);
}

/* No "config" member at all; ENTRYPOINT [] is kept apart from "unset". */
static void test_config_empty_lists(void **state)
{
	static const char bare[] =
		"{'architecture':'amd64','os':'linux','rootfs':{'type':'layers','diff_ids':[]}}";
	static const char empty_ep[] =
		"{'architecture':'amd64','os':'linux','config':{'Entrypoint':[],'Env':[]},"
		"'rootfs':{'type':'layers','diff_ids':[]}}";
	struct oci_image_config c;

	(void)state;
	parse_config_ok(bare, &c);
	assert_null(c.entrypoint);
	assert_null(c.cmd);
	assert_non_null(c.env);
	assert_null(c.env[0]);
	assert_non_null(c.exposed_ports);
	assert_int_equal(c.n_diff_ids, 0);
	assert_null(c.created);
	oci_config_free(&c);

	parse_config_ok(empty_ep, &c);
	assert_non_null(c.entrypoint);
	assert_null(c.entrypoint[0]);
	assert_null(c.cmd);
	assert_non_null(c.env);
	assert_null(c.env[0]);
	oci_config_free(&c);
}

static void test_config_ports_normalized(void **state)
{
	static const char doc[] =
		"{'architecture':'amd64','os':'linux','config':{'ExposedPorts':"
		"{'80':{},'53/UDP':{},'9000/sctp':{},'65535/tcp':{}}},"
		"'rootfs':{'type':'layers','diff_ids':[]}}";
	struct oci_image_config c;

	(void)state;
	parse_config_ok(doc, &c);
	assert_int_equal(strv_len(c.exposed_ports), 4);
	assert_string_equal(c.exposed_ports[0], "80/tcp");
	assert_string_equal(c.exposed_ports[1], "53/udp");
	assert_string_equal(c.exposed_ports[2], "9000/sctp");
	assert_string_equal(c.exposed_ports[3], "65535/tcp");
	oci_config_free(&c);
}

/* ------------------------------------------------ valid: docker archive */

static void test_archive_two_images(void **state)
{
	static const char doc[] =
		"[{'Config':'" H0 ".json','RepoTags':['web:1.0','web:latest'],"
		"'Layers':['" H1 "/layer.tar','" H2 "/layer.tar']},"
		"{'Config':'" H3 ".json','RepoTags':['redis:7'],'Layers':['" H1 "/layer.tar'],"
		"'Parent':'','LayerSources':{}}]";
	struct docker_archive_manifest a;

	(void)state;
	parse_archive_ok(doc, &a);
	assert_int_equal(a.n_images, 2);
	assert_string_equal(a.images[0].config, H0 ".json");
	assert_int_equal(strv_len(a.images[0].repo_tags), 2);
	assert_string_equal(a.images[0].repo_tags[1], "web:latest");
	assert_int_equal(a.images[0].n_layers, 2);
	assert_string_equal(a.images[0].layers[1], H2 "/layer.tar");
	assert_null(a.images[0].layers[2]);
	assert_int_equal(a.images[1].n_layers, 1);
	assert_string_equal(a.images[1].repo_tags[0], "redis:7");
	docker_archive_manifest_free(&a);
	assert_null(a.images);
	assert_int_equal(a.n_images, 0);
}

/* docker 25+ writes OCI-layout blob paths; untagged images have null
 * RepoTags; paths are stored cleaned. */
static void test_archive_blob_paths(void **state)
{
	static const char doc[] =
		"[{'Config':'blobs/sha256/" H0 "','RepoTags':null,"
		"'Layers':['./blobs/sha256/" H1 "','blobs//sha256/" H2 "']}]";
	struct docker_archive_manifest a;

	(void)state;
	parse_archive_ok(doc, &a);
	assert_string_equal(a.images[0].config, "blobs/sha256/" H0);
	assert_non_null(a.images[0].repo_tags);
	assert_null(a.images[0].repo_tags[0]);
	assert_string_equal(a.images[0].layers[0], "blobs/sha256/" H1);
	assert_string_equal(a.images[0].layers[1], "blobs/sha256/" H2);
	docker_archive_manifest_free(&a);
}

/* ------------------------------------------------------------- helpers */

static void test_layers_match(void **state)
{
	static const char cfg3[] =
		"{'architecture':'amd64','os':'linux','rootfs':{'type':'layers','diff_ids':["
		"'sha256:" H1 "','sha256:" H2 "','sha256:" H3 "']}}";
	static const char man2[] =
		"{'schemaVersion':2,'config':" DESC(MT_CFG, H0, 2) "},'layers':["
		DESC(MT_GZ, H1, 3) "}," DESC(MT_GZ, H2, 3) "}]}";
	static const char arch2[] = "[{'Config':'c.json','Layers':['a/layer.tar','b/layer.tar']}]";
	static const char arch3[] = "[{'Config':'c.json','Layers':['a','b','c']}]";
	struct oci_image_config c;
	struct oci_manifest m;
	struct docker_archive_manifest a;
	struct berr *err = NULL;

	(void)state;
	parse_config_ok(cfg3, &c);
	parse_manifest_ok(man2, &m);
	parse_archive_ok(arch2, &a);
	assert_true(oci_check_layers_match(&m, &c, "image web:1.0", &err) < 0);
	assert_string_equal(berr_msg(err), "image web:1.0: config has 3 diff_ids but the manifest has 2 layers");
	assert_true(docker_archive_check_layers_match(&a.images[0], &c, "web.tar", &err) < 0);
	assert_string_equal(berr_msg(err), "web.tar: config has 3 diff_ids but manifest.json lists 2 layers");
	berr_clear(&err);
	docker_archive_manifest_free(&a);
	parse_archive_ok(arch3, &a);
	assert_int_equal(docker_archive_check_layers_match(&a.images[0], &c, "web.tar", &err), 0);
	assert_null(err);
	docker_archive_manifest_free(&a);

	/* one layer, one diff_id: singular words, and a match */
	c.n_diff_ids = 1;
	assert_true(oci_check_layers_match(&m, &c, "x", &err) < 0);
	assert_string_equal(berr_msg(err), "x: config has 1 diff_id but the manifest has 2 layers");
	c.n_diff_ids = 2;
	assert_int_equal(oci_check_layers_match(&m, &c, "x", &err), 0);
	c.n_diff_ids = 3;
	berr_clear(&err);
	oci_manifest_free(&m);
	oci_config_free(&c);
}

static void test_media_type_helpers(void **state)
{
	enum rootfs_compression comp = ROOTFS_COMP_DETECT;

	(void)state;
	assert_true(oci_media_type_is_index(OCI_MT_INDEX));
	assert_true(oci_media_type_is_index(DOCKER_MT_LIST));
	assert_false(oci_media_type_is_index(OCI_MT_MANIFEST));
	assert_false(oci_media_type_is_index(NULL));
	assert_true(oci_media_type_is_manifest(DOCKER_MT_MANIFEST));
	assert_false(oci_media_type_is_manifest(DOCKER_MT_LIST));
	assert_true(oci_media_type_is_config(DOCKER_MT_CONFIG));
	assert_false(oci_media_type_is_config("application/vnd.cncf.helm.config.v1+json"));
	assert_true(oci_layer_media_type(DOCKER_MT_LAYER_GZIP, &comp));
	assert_int_equal(comp, ROOTFS_COMP_GZIP);
	assert_true(oci_layer_media_type("application/vnd.docker.image.rootfs.diff.tar.zstd", &comp));
	assert_int_equal(comp, ROOTFS_COMP_ZSTD);
	assert_true(oci_layer_media_type("application/vnd.oci.image.layer.nondistributable.v1.tar", &comp));
	assert_int_equal(comp, ROOTFS_COMP_NONE);
	assert_true(oci_layer_media_type("application/vnd.docker.image.rootfs.foreign.diff.tar", NULL));
	assert_false(oci_layer_media_type("application/vnd.oci.image.layer.v1.tar+bzip2", &comp));
	assert_false(oci_layer_media_type(NULL, &comp));
}

static void test_platform_matches(void **state)
{
	struct oci_platform amd = { "linux", "amd64", NULL };
	struct oci_platform arm64 = { "linux", "arm64", "v8" };
	struct oci_platform armv6 = { "linux", "arm", "v6" };
	struct oci_platform none = { NULL, NULL, NULL };

	(void)state;
	assert_true(oci_platform_matches(&amd, "linux", "amd64", NULL));
	assert_true(oci_platform_matches(&amd, "linux", "amd64", "v1"));
	assert_true(oci_platform_matches(&amd, "linux", "amd64", "v3"));
	assert_false(oci_platform_matches(&amd, "windows", "amd64", NULL));
	assert_false(oci_platform_matches(&amd, "linux", "arm64", NULL));
	assert_true(oci_platform_matches(&arm64, "linux", "arm64", NULL));
	assert_true(oci_platform_matches(&arm64, "linux", "aarch64", "v8"));
	assert_false(oci_platform_matches(&arm64, "linux", "arm64", "v9"));
	assert_true(oci_platform_matches(&armv6, "linux", "arm", "v7"));
	assert_false(oci_platform_matches(&armv6, "linux", "arm", "v5"));
	assert_false(oci_platform_matches(&none, "linux", "amd64", NULL));
}

/* ---------------------------------------------------------- invalid JSON */

static void test_invalid_json(void **state)
{
	(void)state;
	index_err("{'schemaVersion': 2,\n 'manifests': [}",
		  "parse index.json: line 2, column 16: unexpected token near '}'");
	manifest_err("{'schemaVersion': 2,,}",
		     "parse blob sha256:" H1 ": line 1, column 21: string or '}' expected near ','");
	config_err("", "parse config: line 1, column 0: unexpected token near end of file");
	archive_err("[{'Config': 'a', 'Config': 'b'}]",
		    "parse manifest.json in web.tar: line 1, column 25: duplicate object key near '\"Config\"'");
}

static void test_not_an_object(void **state)
{
	(void)state;
	index_err("[]", "index.json: expected object, got array");
	manifest_err("2", "blob sha256:" H1 ": expected object, got integer");
	config_err("'config'", "config: expected object, got string");
	archive_err("{}", "manifest.json in web.tar: expected array, got object");
}

/* ------------------------------------------------------ invalid: index */

static void test_index_schema_version(void **state)
{
	(void)state;
	index_err("{'manifests':[]}", "index.json: schemaVersion: required");
	index_err("{'schemaVersion':null,'manifests':[]}", "index.json: schemaVersion: required");
	index_err("{'schemaVersion':1,'manifests':[]}",
		  "index.json: schemaVersion: 1 is not supported (berth reads schema version 2)");
	index_err("{'schemaVersion':'2','manifests':[]}",
		  "index.json: schemaVersion: expected integer, got string");
	index_err("{'schemaVersion':2.0,'manifests':[]}",
		  "index.json: schemaVersion: expected integer, got real");
}

static void test_index_media_type(void **state)
{
	(void)state;
	index_err("{'schemaVersion':2," MT_MAN ",'manifests':[]}",
		  "index.json: mediaType \"application/vnd.oci.image.manifest.v1+json\": "
		  "is an image manifest, not an index");
	index_err("{'schemaVersion':2," MT_DMAN ",'manifests':[]}",
		  "index.json: mediaType \"application/vnd.docker.distribution.manifest.v2+json\": "
		  "is an image manifest, not an index");
	index_err("{'schemaVersion':2,'mediaType':'text/plain','manifests':[]}",
		  "index.json: mediaType \"text/plain\": not an image index (want "
		  "application/vnd.oci.image.index.v1+json or "
		  "application/vnd.docker.distribution.manifest.list.v2+json)");
	index_err("{'schemaVersion':2,'mediaType':7,'manifests':[]}",
		  "index.json: mediaType: expected string, got integer");
	/* no mediaType, but plainly a manifest */
	index_err("{'schemaVersion':2,'config':" DESC(MT_CFG, H0, 2) "},'layers':[]}",
		  "index.json: no mediaType, and \"layers\" instead of \"manifests\": "
		  "is an image manifest, not an index");
}

static void test_index_manifests_field(void **state)
{
	(void)state;
	index_err("{'schemaVersion':2}", "index.json: manifests: required");
	index_err("{'schemaVersion':2,'manifests':{}}",
		  "index.json: manifests: expected array, got object");
	index_err("{'schemaVersion':2,'manifests':[" DESC(MT_MAN, H1, 1) "},'x']}",
		  "index.json: manifests[1]: expected object, got string");
}

static void test_descriptor_media_type(void **state)
{
	(void)state;
	index_err("{'schemaVersion':2,'manifests':[" DESC(MT_MAN, H1, 1) "},"
		  "{'digest':'sha256:" H1 "','size':1}]}",
		  "index.json: manifests[1].mediaType: required");
	index_err("{'schemaVersion':2,'manifests':[{'mediaType':['a'],'digest':'sha256:" H1 "','size':1}]}",
		  "index.json: manifests[0].mediaType: expected string, got array");
	index_err("{'schemaVersion':2,'manifests':[{'mediaType':'','digest':'sha256:" H1 "','size':1}]}",
		  "index.json: manifests[0].mediaType: must not be empty");
}

static void test_descriptor_digest(void **state)
{
	(void)state;
	index_err("{'schemaVersion':2,'manifests':[{" MT_MAN ",'size':1}]}",
		  "index.json: manifests[0].digest: required");
	index_err("{'schemaVersion':2,'manifests':[{" MT_MAN ",'digest':42,'size':1}]}",
		  "index.json: manifests[0].digest: expected string, got integer");
	index_err("{'schemaVersion':2,'manifests':[{" MT_MAN ",'digest':'sha256:abc','size':1}]}",
		  "index.json: manifests[0].digest: \"sha256:abc\" is not a digest "
		  "(want sha256:<64 lowercase hex digits>)");
	manifest_err("{'schemaVersion':2,'config':{" MT_CFG ",'digest':'" H0 "','size':1},'layers':[]}",
		     "blob sha256:" H1 ": config.digest: \"" H0 "\" is not a digest "
		     "(want sha256:<64 hex digits>)");
	/* upper-case hex is not the canonical form */
	manifest_err("{'schemaVersion':2,'config':" DESC(MT_CFG, H0, 1) "},'layers':["
		     "{" MT_GZ ",'digest':'sha256:6B86B273FF34FCE19D6B804EFF5A3F5747ADA4EAA22F1D49C01E52DDB7875B4B','size':1}]}",
		     "blob sha256:" H1 ": layers[0].digest: \"sha256:6B86B273FF34FCE19D6B804EFF5A3F5747ADA4EAA22F1D49C01E52DDB7875B4B\" "
		     "is not a digest (want sha256:<64 lowercase hex digits>)");
}

static void test_descriptor_unsupported_algorithm(void **state)
{
	(void)state;
	manifest_err("{'schemaVersion':2,'config':" DESC(MT_CFG, H0, 1) "},'layers':["
		     DESC(MT_GZ, H1, 1) "},"
		     "{" MT_GZ ",'digest':'sha512:" H1 H2 "','size':1}]}",
		     "blob sha256:" H1 ": layers[1].digest: unsupported digest algorithm \"sha512\" "
		     "(berth verifies sha256)");
}

static void test_descriptor_size(void **state)
{
	(void)state;
	index_err("{'schemaVersion':2,'manifests':[{" MT_MAN ",'digest':'sha256:" H1 "'}]}",
		  "index.json: manifests[0].size: required");
	index_err("{'schemaVersion':2,'manifests':[" DESC(MT_MAN, H1, -1) "}]}",
		  "index.json: manifests[0].size: -1 is negative");
	manifest_err("{'schemaVersion':2,'config':" DESC(MT_CFG, H0, 1.5) "},'layers':[]}",
		     "blob sha256:" H1 ": config.size: expected integer, got real");
	manifest_err("{'schemaVersion':2,'config':" DESC(MT_CFG, H0, '12') "},'layers':[]}",
		     "blob sha256:" H1 ": config.size: expected integer, got string");
	/* larger than int64: jansson refuses it while parsing */
	manifest_err("{'schemaVersion':2,'config':" DESC(MT_CFG, H0, 99999999999999999999) "},'layers':[]}",
		     "parse blob sha256:" H1 ": line 1, column 194: too big integer near '99999999999999999999'");
}

static void test_descriptor_platform(void **state)
{
	(void)state;
	index_err("{'schemaVersion':2,'manifests':[" DESC(MT_MAN, H1, 1) ",'platform':{'os':'linux'}}]}",
		  "index.json: manifests[0].platform.architecture: required");
	index_err("{'schemaVersion':2,'manifests':[" DESC(MT_MAN, H1, 1) ",'platform':{'architecture':'amd64'}}]}",
		  "index.json: manifests[0].platform.os: required");
	index_err("{'schemaVersion':2,'manifests':[" DESC(MT_MAN, H1, 1) ",'platform':'linux/amd64'}]}",
		  "index.json: manifests[0].platform: expected object, got string");
	index_err("{'schemaVersion':2,'manifests':[" DESC(MT_MAN, H1, 1) ","
		  "'platform':{'os':'linux','architecture':'arm','variant':7}}]}",
		  "index.json: manifests[0].platform.variant: expected string, got integer");
	index_err("{'schemaVersion':2,'manifests':[" DESC(MT_MAN, H1, 1) ","
		  "'platform':{'os':'','architecture':'arm'}}]}",
		  "index.json: manifests[0].platform.os: must not be empty");
}

static void test_descriptor_annotations(void **state)
{
	(void)state;
	index_err("{'schemaVersion':2,'manifests':[" DESC(MT_MAN, H1, 1) ","
		  "'annotations':{'org.opencontainers.image.ref.name':3}}]}",
		  "index.json: manifests[0].annotations[\"org.opencontainers.image.ref.name\"]: "
		  "expected string, got integer");
	index_err("{'schemaVersion':2,'manifests':[" DESC(MT_MAN, H1, 1) ",'annotations':[]}]}",
		  "index.json: manifests[0].annotations: expected object, got array");
}

/* --------------------------------------------------- invalid: manifest */

static void test_manifest_is_index(void **state)
{
	(void)state;
	manifest_err(multi_index,
		     "blob sha256:" H1 ": mediaType \"application/vnd.oci.image.index.v1+json\": "
		     "is an image index, not a manifest");
	manifest_err("{'schemaVersion':2,'mediaType':'application/vnd.docker.distribution.manifest.list.v2+json',"
		     "'manifests':[]}",
		     "blob sha256:" H1 ": mediaType \"application/vnd.docker.distribution.manifest.list.v2+json\": "
		     "is an image index, not a manifest");
	/* an OCI index without its (optional) mediaType */
	manifest_err("{'schemaVersion':2,'manifests':[" DESC(MT_MAN, H1, 1) "}]}",
		     "blob sha256:" H1 ": no mediaType, and \"manifests\" instead of \"config\": "
		     "is an image index, not a manifest");
}

static void test_manifest_media_type(void **state)
{
	(void)state;
	manifest_err("{'schemaVersion':2,'mediaType':'application/vnd.oci.image.config.v1+json',"
		     "'config':" DESC(MT_CFG, H0, 1) "},'layers':[]}",
		     "blob sha256:" H1 ": mediaType \"application/vnd.oci.image.config.v1+json\": "
		     "not an image manifest (want application/vnd.oci.image.manifest.v1+json or "
		     "application/vnd.docker.distribution.manifest.v2+json)");
	/* docker schema 1 */
	manifest_err("{'schemaVersion':1,'name':'library/x','tag':'1','fsLayers':[]}",
		     "blob sha256:" H1 ": schemaVersion: 1 is not supported (berth reads schema version 2)");
}

static void test_manifest_config_field(void **state)
{
	(void)state;
	manifest_err("{'schemaVersion':2," MT_MAN ",'layers':[]}",
		     "blob sha256:" H1 ": config: required");
	manifest_err("{'schemaVersion':2,'config':[],'layers':[]}",
		     "blob sha256:" H1 ": config: expected object, got array");
	manifest_err("{'schemaVersion':2,'config':{'digest':'sha256:" H0 "','size':1},'layers':[]}",
		     "blob sha256:" H1 ": config.mediaType: required");
	/* an OCI artifact is not an image */
	manifest_err("{'schemaVersion':2,'config':"
		     DESC("'mediaType':'application/vnd.cncf.helm.config.v1+json'", H0, 1) "},'layers':[]}",
		     "blob sha256:" H1 ": config.mediaType: \"application/vnd.cncf.helm.config.v1+json\": "
		     "not an image config (want application/vnd.oci.image.config.v1+json or "
		     "application/vnd.docker.container.image.v1+json)");
}

static void test_manifest_layers_field(void **state)
{
	(void)state;
	manifest_err("{'schemaVersion':2,'config':" DESC(MT_CFG, H0, 1) "}}",
		     "blob sha256:" H1 ": layers: required");
	manifest_err("{'schemaVersion':2,'config':" DESC(MT_CFG, H0, 1) "},'layers':{}}",
		     "blob sha256:" H1 ": layers: expected array, got object");
	manifest_err("{'schemaVersion':2,'config':" DESC(MT_CFG, H0, 1) "},'layers':[null]}",
		     "blob sha256:" H1 ": layers[0]: expected object, got null");
}

static void test_manifest_unknown_layer_type(void **state)
{
	(void)state;
	manifest_err("{'schemaVersion':2,'config':" DESC(MT_CFG, H0, 1) "},'layers':["
		     DESC(MT_GZ, H1, 1) "}," DESC(MT_GZ, H2, 1) "},"
		     DESC("'mediaType':'application/x-foo'", H3, 1) "}]}",
		     "blob sha256:" H1 ": layers[2].mediaType: \"application/x-foo\": "
		     "not a layer type berth can unpack");
	/* a config where a layer should be */
	manifest_err("{'schemaVersion':2,'config':" DESC(MT_CFG, H0, 1) "},'layers':["
		     DESC(MT_CFG, H1, 1) "}]}",
		     "blob sha256:" H1 ": layers[0].mediaType: \"application/vnd.oci.image.config.v1+json\": "
		     "not a layer type berth can unpack");
}

/* Text from the document is escaped and cut in messages. */
static void test_message_quoting(void **state)
{
	char doc[1024], msg[1024];
	char long_mt[301];

	(void)state;
	manifest_err("{'schemaVersion':2,'mediaType':'evil\\u001b[2Jtype\\\"x','config':{},'layers':[]}",
		     "blob sha256:" H1 ": mediaType \"evil\\u001b[2Jtype\\\"x\": not an image manifest "
		     "(want application/vnd.oci.image.manifest.v1+json or "
		     "application/vnd.docker.distribution.manifest.v2+json)");
	memset(long_mt, 'a', 300);
	long_mt[300] = '\0';
	snprintf(doc, sizeof(doc), "{'schemaVersion':2,'config':" DESC(MT_CFG, H0, 1) "},"
		 "'layers':[{'mediaType':'%s','digest':'sha256:" H1 "','size':1}]}", long_mt);
	snprintf(msg, sizeof(msg), "blob sha256:" H1 ": layers[0].mediaType: \"%.128s\"...: "
		 "not a layer type berth can unpack", long_mt);
	manifest_err(doc, msg);
}

/* ----------------------------------------------------- invalid: config */

static const char cfg_tail[] = ",'rootfs':{'type':'layers','diff_ids':[]}}";

static void cfg_err(const char *run_config, const char *msg)
{
	char doc[2048];

	snprintf(doc, sizeof(doc), "{'architecture':'amd64','os':'linux','config':%s%s",
		 run_config, cfg_tail);
	config_err(doc, msg);
}

static void test_config_platform(void **state)
{
	(void)state;
	config_err("{'os':'linux','rootfs':{'type':'layers','diff_ids':[]}}",
		   "config: architecture: required");
	config_err("{'architecture':'amd64','rootfs':{'type':'layers','diff_ids':[]}}",
		   "config: os: required");
	config_err("{'architecture':'amd64','os':'','rootfs':{'type':'layers','diff_ids':[]}}",
		   "config: os: must not be empty");
	config_err("{'architecture':['amd64'],'os':'linux','rootfs':{'type':'layers','diff_ids':[]}}",
		   "config: architecture: expected string, got array");
	config_err("{'architecture':'arm','os':'linux','variant':7,'rootfs':{'type':'layers','diff_ids':[]}}",
		   "config: variant: expected string, got integer");
}

static void test_config_rootfs(void **state)
{
	(void)state;
	config_err("{'architecture':'amd64','os':'linux'}", "config: rootfs: required");
	config_err("{'architecture':'amd64','os':'linux','rootfs':{'diff_ids':[]}}",
		   "config: rootfs.type: required");
	config_err("{'architecture':'amd64','os':'linux','rootfs':{'type':'layer','diff_ids':[]}}",
		   "config: rootfs.type: \"layer\": must be \"layers\"");
	config_err("{'architecture':'amd64','os':'linux','rootfs':{'type':'layers'}}",
		   "config: rootfs.diff_ids: required");
	config_err("{'architecture':'amd64','os':'linux','rootfs':{'type':'layers','diff_ids':'sha256:" H1 "'}}",
		   "config: rootfs.diff_ids: expected array, got string");
}

static void test_config_diff_ids(void **state)
{
	(void)state;
	config_err("{'architecture':'amd64','os':'linux','rootfs':{'type':'layers','diff_ids':["
		   "'sha256:" H1 "','sha256:12']}}",
		   "config: rootfs.diff_ids[1]: \"sha256:12\" is not a digest "
		   "(want sha256:<64 lowercase hex digits>)");
	config_err("{'architecture':'amd64','os':'linux','rootfs':{'type':'layers','diff_ids':[1]}}",
		   "config: rootfs.diff_ids[0]: expected string, got integer");
	config_err("{'architecture':'amd64','os':'linux','rootfs':{'type':'layers','diff_ids':["
		   "'md5:d41d8cd98f00b204e9800998ecf8427e']}}",
		   "config: rootfs.diff_ids[0]: unsupported digest algorithm \"md5\" (berth verifies sha256)");
}

static void test_config_run_types(void **state)
{
	(void)state;
	cfg_err("'nginx'", "config: config: expected object, got string");
	cfg_err("{'Entrypoint':'/bin/sh -c x'}",
		"config: config.Entrypoint: expected array, got string");
	cfg_err("{'Cmd':['nginx',1]}", "config: config.Cmd[1]: expected string, got integer");
	cfg_err("{'Env':'PATH=/bin'}", "config: config.Env: expected array, got string");
	cfg_err("{'WorkingDir':5}", "config: config.WorkingDir: expected string, got integer");
	cfg_err("{'User':true}", "config: config.User: expected string, got boolean");
	cfg_err("{'StopSignal':15}", "config: config.StopSignal: expected string, got integer");
	cfg_err("{'ExposedPorts':['80/tcp']}",
		"config: config.ExposedPorts: expected object, got array");
	cfg_err("{'Labels':[]}", "config: config.Labels: expected object, got array");
}

static void test_config_env_entries(void **state)
{
	(void)state;
	cfg_err("{'Env':['PATH=/bin','DEBUG']}",
		"config: config.Env[1]: \"DEBUG\": no '=' (want NAME=value)");
	cfg_err("{'Env':['=value']}",
		"config: config.Env[0]: \"=value\": empty variable name (want NAME=value)");
	cfg_err("{'Env':['A=1',null]}", "config: config.Env[1]: expected string, got null");
}

static void test_config_ports(void **state)
{
	(void)state;
	cfg_err("{'ExposedPorts':{'80/tcp':{},'http':{}}}",
		"config: config.ExposedPorts.http: not a port (want <1-65535>[/tcp|/udp|/sctp])");
	cfg_err("{'ExposedPorts':{'70000/tcp':{}}}",
		"config: config.ExposedPorts[\"70000/tcp\"]: not a port (want <1-65535>[/tcp|/udp|/sctp])");
	cfg_err("{'ExposedPorts':{'0':{}}}",
		"config: config.ExposedPorts.0: not a port (want <1-65535>[/tcp|/udp|/sctp])");
	cfg_err("{'ExposedPorts':{'80/quic':{}}}",
		"config: config.ExposedPorts[\"80/quic\"]: not a port (want <1-65535>[/tcp|/udp|/sctp])");
	cfg_err("{'ExposedPorts':{'8000-8010/tcp':{}}}",
		"config: config.ExposedPorts[\"8000-8010/tcp\"]: not a port (want <1-65535>[/tcp|/udp|/sctp])");
}

static void test_config_labels(void **state)
{
	(void)state;
	cfg_err("{'Labels':{'a':'1','com.example.version':2}}",
		"config: config.Labels[\"com.example.version\"]: expected string, got integer");
	cfg_err("{'Labels':{'a':null}}", "config: config.Labels.a: required");
}

/* --------------------------------------------- invalid: docker archive */

static void test_archive_structure(void **state)
{
	(void)state;
	archive_err("[]", "manifest.json in web.tar: no images (empty array)");
	archive_err("['x']", "manifest.json in web.tar: [0]: expected object, got string");
	archive_err("[{'Layers':[]}]", "manifest.json in web.tar: [0].Config: required");
	archive_err("[{'Config':'c.json','Layers':['a'],'RepoTags':['x:1']},{'Config':'c.json'}]",
		    "manifest.json in web.tar: [1].Layers: required");
	archive_err("[{'Config':7,'Layers':[]}]",
		    "manifest.json in web.tar: [0].Config: expected string, got integer");
	archive_err("[{'Config':'c.json','Layers':['a/layer.tar',{}]}]",
		    "manifest.json in web.tar: [0].Layers[1]: expected string, got object");
	archive_err("[{'Config':'c.json','Layers':[],'RepoTags':'web:1'}]",
		    "manifest.json in web.tar: [0].RepoTags: expected array, got string");
	archive_err("[{'Config':'c.json','Layers':[],'RepoTags':[1]}]",
		    "manifest.json in web.tar: [0].RepoTags[0]: expected string, got integer");
}

static void test_archive_unsafe_paths(void **state)
{
	(void)state;
	archive_err("[{'Config':'../../etc/shadow','Layers':[]}]",
		    "manifest.json in web.tar: [0].Config: \"../../etc/shadow\": "
		    "not a relative path inside the archive");
	archive_err("[{'Config':'/etc/passwd','Layers':[]}]",
		    "manifest.json in web.tar: [0].Config: \"/etc/passwd\": "
		    "not a relative path inside the archive");
	archive_err("[{'Config':'c.json','Layers':['a/layer.tar','a/../../b/layer.tar']}]",
		    "manifest.json in web.tar: [0].Layers[1]: \"a/../../b/layer.tar\": "
		    "not a relative path inside the archive");
	/* harmless once cleaned, but never written by docker: refused */
	archive_err("[{'Config':'c.json','Layers':['a/../b/layer.tar']}]",
		    "manifest.json in web.tar: [0].Layers[0]: \"a/../b/layer.tar\": "
		    "not a relative path inside the archive");
	archive_err("[{'Config':'c.json','Layers':['x/..']}]",
		    "manifest.json in web.tar: [0].Layers[0]: \"x/..\": "
		    "not a relative path inside the archive");
	archive_err("[{'Config':'','Layers':[]}]",
		    "manifest.json in web.tar: [0].Config: \"\": not a relative path inside the archive");
	archive_err("[{'Config':'./','Layers':[]}]",
		    "manifest.json in web.tar: [0].Config: \"./\": not a relative path inside the archive");
}

/* "..x" and "x.." are names, not parent references. */
static void test_archive_dotted_names_ok(void **state)
{
	static const char doc[] = "[{'Config':'..c.json','Layers':['a../layer.tar','b/..x']}]";
	struct docker_archive_manifest a;

	(void)state;
	parse_archive_ok(doc, &a);
	assert_string_equal(a.images[0].config, "..c.json");
	assert_string_equal(a.images[0].layers[1], "b/..x");
	docker_archive_manifest_free(&a);
}

/* ------------------------------------------------------ invalid: select */

static void test_select_no_match(void **state)
{
	struct oci_index x;
	struct berr *err = NULL;
	size_t i = 99;

	(void)state;
	parse_index_ok(multi_index, &x);
	assert_true(oci_index_select(&x, "index.json", "linux", "s390x", NULL, &i, &err) < 0);
	assert_string_equal(berr_msg(err), "index.json: no image for linux/s390x (available: "
			    "linux/amd64, linux/arm/v6, linux/arm/v7, linux/arm64/v8, linux/ppc64le)");
	assert_int_equal(i, 99);
	assert_true(oci_index_select(&x, "index.json", "windows", "amd64", NULL, &i, &err) < 0);
	assert_true(oci_index_select(&x, "index.json", "linux", "arm", "v5", &i, &err) < 0);
	assert_string_equal(berr_msg(err), "index.json: no image for linux/arm/v5 (available: "
			    "linux/amd64, linux/arm/v6, linux/arm/v7, linux/arm64/v8, linux/ppc64le)");
	assert_true(oci_index_select(&x, "index.json", "linux", "arm64", "v9", &i, &err) < 0);
	/* attestations are manifests with a platform, but no image */
	assert_true(oci_index_select(&x, "index.json", "unknown", "unknown", NULL, &i, &err) == 0);
	berr_clear(&err);
	oci_index_free(&x);
}

/* The brief's example, with a duplicate platform listed once. */
static void test_select_error_lists_platforms(void **state)
{
	static const char doc[] =
		"{'schemaVersion':2,'manifests':["
		DESC(MT_MAN, H1, 1) ",'platform':{'architecture':'amd64','os':'linux'}},"
		DESC(MT_MAN, H2, 1) ",'platform':{'architecture':'arm','os':'linux','variant':'v7'}},"
		DESC(MT_MAN, H3, 1) ",'platform':{'architecture':'amd64','os':'linux'}},"
		DESC(MT_MAN, H4, 1) ",'platform':{'architecture':'unknown','os':'unknown'}}]}";
	struct oci_index x;
	struct berr *err = NULL;
	size_t i;

	(void)state;
	parse_index_ok(doc, &x);
	assert_true(oci_index_select(&x, "index.json", "linux", "arm64", NULL, &i, &err) < 0);
	assert_string_equal(berr_msg(err),
			    "index.json: no image for linux/arm64 (available: linux/amd64, linux/arm/v7)");
	berr_clear(&err);
	oci_index_free(&x);
}

static void test_select_empty_and_attestation_only(void **state)
{
	static const char empty[] = "{'schemaVersion':2,'manifests':[]}";
	static const char att[] =
		"{'schemaVersion':2,'manifests':["
		DESC(MT_MAN, H1, 1) ",'platform':{'architecture':'unknown','os':'unknown'}},"
		DESC("'mediaType':'application/vnd.cncf.notary.signature'", H2, 1) "}]}";
	struct oci_index x;
	struct berr *err = NULL;
	size_t i;

	(void)state;
	parse_index_ok(empty, &x);
	assert_true(oci_index_select(&x, "index.json", "linux", "amd64", NULL, &i, &err) < 0);
	assert_string_equal(berr_msg(err), "index.json: no image for linux/amd64 (available: none)");
	oci_index_free(&x);
	parse_index_ok(att, &x);
	assert_true(oci_index_select(&x, "index.json", "linux", "amd64", NULL, &i, &err) < 0);
	assert_string_equal(berr_msg(err), "index.json: no image for linux/amd64 (available: none)");
	oci_index_free(&x);
	/* a zeroed index selects nothing */
	assert_true(oci_index_select(&x, NULL, "linux", "amd64", "v2", &i, &err) < 0);
	assert_string_equal(berr_msg(err), "document: no image for linux/amd64/v2 (available: none)");
	berr_clear(&err);
}

/* The platform list in the error is bounded: a hostile index cannot make it huge. */
static void test_select_error_bounded(void **state)
{
	struct oci_index x;
	struct berr *err = NULL;
	size_t i;

	(void)state;
	memset(&x, 0, sizeof(x));
	x.n_manifests = 40;
	x.manifests = xcalloc(x.n_manifests, sizeof(*x.manifests));
	for (size_t k = 0; k < x.n_manifests; k++) {
		x.manifests[k].media_type = xstrdup(OCI_MT_MANIFEST);
		x.manifests[k].platform.os = xstrdup("linux");
		x.manifests[k].platform.architecture = xasprintf("arch%zu\x1b", k);
	}
	assert_true(oci_index_select(&x, "i", "linux", "amd64", NULL, &i, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "linux/arch0\\u001b, linux/arch1\\u001b,"));
	assert_non_null(strstr(berr_msg(err), "linux/arch15\\u001b, ...)"));
	assert_null(strstr(berr_msg(err), "arch16"));
	berr_clear(&err);
	oci_index_free(&x);
}

/* ------------------------------------------------------------- freeing */

static void test_free_zeroed(void **state)
{
	struct oci_index idx = { 0 };
	struct oci_manifest m = { 0 };
	struct oci_image_config c = { 0 };
	struct docker_archive_manifest a = { 0 };

	(void)state;
	oci_index_free(&idx);
	oci_manifest_free(&m);
	oci_config_free(&c);
	docker_archive_manifest_free(&a);
	/* twice: free leaves them zeroed */
	oci_index_free(&idx);
	oci_manifest_free(&m);
	oci_config_free(&c);
	docker_archive_manifest_free(&a);
}

/* Partly filled by hand, as a caller building one would leave it: arrays of
 * n entries with some still empty. */
static void test_free_partial(void **state)
{
	struct oci_index idx = { 0 };
	struct oci_manifest m = { 0 };
	struct oci_image_config c = { 0 };
	struct docker_archive_manifest a = { 0 };

	(void)state;
	idx.n_manifests = 3;
	idx.manifests = xcalloc(3, sizeof(*idx.manifests));
	idx.manifests[0].media_type = xstrdup(OCI_MT_MANIFEST);
	idx.manifests[0].platform.os = xstrdup("linux");
	idx.manifests[1].ref_name = xstrdup("latest");
	oci_index_free(&idx);
	assert_null(idx.manifests);

	m.media_type = xstrdup(OCI_MT_MANIFEST);
	m.config.media_type = xstrdup(OCI_MT_CONFIG);
	m.n_layers = 2;
	m.layers = xcalloc(2, sizeof(*m.layers));
	m.layers[0].media_type = xstrdup(OCI_MT_LAYER_GZIP);
	/* layer_comp not allocated yet */
	oci_manifest_free(&m);

	c.platform.os = xstrdup("linux");
	c.env = xcalloc(2, sizeof(*c.env));
	c.env[0] = xstrdup("A=1");
	c.n_labels = 2;
	c.labels = xcalloc(2, sizeof(*c.labels));
	c.labels[0].key = xstrdup("k");
	c.n_diff_ids = 4;
	c.diff_ids = xcalloc(4, sizeof(*c.diff_ids));
	oci_config_free(&c);

	a.n_images = 2;
	a.images = xcalloc(2, sizeof(*a.images));
	a.images[0].config = xstrdup("c.json");
	a.images[0].layers = xcalloc(1, sizeof(char *));
	oci_config_free(&c);
	docker_archive_manifest_free(&a);
}

/* Errors deep in a document, after much was built: the parser frees it
 * (the ASan build checks for leaks) and leaves the struct zeroed. */
static void test_free_after_late_error(void **state)
{
	(void)state;
	/* the last layer is bad, after config and four layers were read */
	manifest_err("{'schemaVersion':2,'config':" DESC(MT_CFG, H0, 1) ",'annotations':{"
		     "'org.opencontainers.image.ref.name':'x'}},'layers':["
		     DESC(MT_GZ, H1, 1) "}," DESC(MT_GZ, H2, 1) "}," DESC(MT_GZ, H3, 1) "},"
		     DESC(MT_GZ, H4, 1) "}," DESC(MT_GZ, H5, -3) "}]}",
		     "blob sha256:" H1 ": layers[4].size: -3 is negative");
	index_err("{'schemaVersion':2,'manifests':["
		  DESC(MT_MAN, H1, 1) ",'platform':{'architecture':'amd64','os':'linux','variant':'v2'},"
		  "'annotations':{'io.containerd.image.name':'a','org.opencontainers.image.ref.name':'b'}},"
		  DESC(MT_MAN, H2, 1) ",'platform':{'architecture':'amd64','os':'linux','variant':[]}}]}",
		  "index.json: manifests[1].platform.variant: expected string, got array");
	/* everything but the last diff_id read */
	{
		char doc[4096];

		snprintf(doc, sizeof(doc), "%.*s'sha256:" H5 "','sha256:" H6 "',3]}}",
			 (int)(strstr(debian_config, "'sha256:" H5) - debian_config), debian_config);
		config_err(doc, "config: rootfs.diff_ids[2]: expected string, got integer");
	}
	/* labels half read, then a bad one */
	cfg_err("{'Env':['A=1'],'Entrypoint':['x'],'Cmd':['y'],'User':'u','WorkingDir':'/w',"
		"'StopSignal':'SIGINT','ExposedPorts':{'1':{}},'Labels':{'a':'1','b':'2','c':false}}",
		"config: config.Labels.c: expected string, got boolean");
	cfg_err("{'Env':['A=1'],'Entrypoint':['x'],'ExposedPorts':{'1':{},'2/tcp':{},'x':{}}}",
		"config: config.ExposedPorts.x: not a port (want <1-65535>[/tcp|/udp|/sctp])");
	archive_err("[{'Config':'a.json','RepoTags':['a:1'],'Layers':['1/layer.tar']},"
		    "{'Config':'b.json','RepoTags':['b:1'],'Layers':['1/layer.tar','../2']}]",
		    "manifest.json in web.tar: [1].Layers[1]: \"../2\": not a relative path inside the archive");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_index_multi_platform),
		cmocka_unit_test(test_index_docker_list),
		cmocka_unit_test(test_index_layout_without_platform),
		cmocka_unit_test(test_index_without_media_type),
		cmocka_unit_test(test_index_unknown_entry_types),
		cmocka_unit_test(test_select_amd64_levels),
		cmocka_unit_test(test_manifest_oci_layers),
		cmocka_unit_test(test_manifest_docker_schema2),
		cmocka_unit_test(test_manifest_minimal),
		cmocka_unit_test(test_config_full),
		cmocka_unit_test(test_config_alpine),
		cmocka_unit_test(test_config_empty_lists),
		cmocka_unit_test(test_config_ports_normalized),
		cmocka_unit_test(test_archive_two_images),
		cmocka_unit_test(test_archive_blob_paths),
		cmocka_unit_test(test_layers_match),
		cmocka_unit_test(test_media_type_helpers),
		cmocka_unit_test(test_platform_matches),
		cmocka_unit_test(test_invalid_json),
		cmocka_unit_test(test_not_an_object),
		cmocka_unit_test(test_index_schema_version),
		cmocka_unit_test(test_index_media_type),
		cmocka_unit_test(test_index_manifests_field),
		cmocka_unit_test(test_descriptor_media_type),
		cmocka_unit_test(test_descriptor_digest),
		cmocka_unit_test(test_descriptor_unsupported_algorithm),
		cmocka_unit_test(test_descriptor_size),
		cmocka_unit_test(test_descriptor_platform),
		cmocka_unit_test(test_descriptor_annotations),
		cmocka_unit_test(test_manifest_is_index),
		cmocka_unit_test(test_manifest_media_type),
		cmocka_unit_test(test_manifest_config_field),
		cmocka_unit_test(test_manifest_layers_field),
		cmocka_unit_test(test_manifest_unknown_layer_type),
		cmocka_unit_test(test_message_quoting),
		cmocka_unit_test(test_config_platform),
		cmocka_unit_test(test_config_rootfs),
		cmocka_unit_test(test_config_diff_ids),
		cmocka_unit_test(test_config_run_types),
		cmocka_unit_test(test_config_env_entries),
		cmocka_unit_test(test_config_ports),
		cmocka_unit_test(test_config_labels),
		cmocka_unit_test(test_archive_structure),
		cmocka_unit_test(test_archive_unsafe_paths),
		cmocka_unit_test(test_archive_dotted_names_ok),
		cmocka_unit_test(test_select_no_match),
		cmocka_unit_test(test_select_error_lists_platforms),
		cmocka_unit_test(test_select_empty_and_attestation_only),
		cmocka_unit_test(test_select_error_bounded),
		cmocka_unit_test(test_free_zeroed),
		cmocka_unit_test(test_free_partial),
		cmocka_unit_test(test_free_after_late_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
