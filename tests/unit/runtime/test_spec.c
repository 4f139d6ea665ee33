/* Unit tests for runtime/container/spec.c: a container definition resolved
 * against its image config and root filesystem.
 *
 * Task definitions come from task_def_parse() (documents written with '
 * for ", swapped by jq()), image configs from oci_config_parse(), and each
 * test that needs files gets its own temporary directory holding a rootfs
 * (root/) with /etc/passwd and /etc/group, and whatever else it needs
 * (env files, host volume sources, decoys outside the root). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "rootfs/oci.h"
#include "runtime/container/caps.h"
#include "runtime/container/spec.h"
#include "runtime/task/task.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define FG TASK_MODE_FARGATE
#define EC2 TASK_MODE_EC2
#define BIT(c) (1ULL << (c))

/* ------------------------------------------------------------- helpers */

static char *jq(const char *s)
{
	char *r = xstrdup(s);

	for (char *p = r; *p; p++)
		if (*p == '\'')
			*p = '"';
	return r;
}

static struct task_def *parse_td(const char *doc, enum task_mode mode)
{
	cleanup_free char *j = jq(doc);
	struct task_def *td = NULL;
	struct berr *err = NULL;

	if (task_def_parse(j, strlen(j), "task.json", mode, &td, &err) < 0)
		fail_msg("task definition refused: %s", berr_msg(err));
	return td;
}

/* An EC2 task (bridge network, 1 GB) with extra task fields and containers. */
static struct task_def *ec2(const char *extra, const char *containers)
{
	cleanup_free char *d = xasprintf("{'family':'f','memory':'1024'%s,'containerDefinitions':[%s]}",
					 extra, containers);

	return parse_td(d, EC2);
}

/* A Fargate task (awsvpc, 256/512). */
static struct task_def *fg(const char *containers)
{
	cleanup_free char *d = xasprintf("{'family':'f','networkMode':'awsvpc','requiresCompatibilities':"
					 "['FARGATE'],'cpu':'256','memory':'512','containerDefinitions':[%s]}",
					 containers);

	return parse_td(d, FG);
}

/* An image config whose "config" object is `cfg` (quotes as in jq()). */
static struct oci_image_config *image(const char *cfg)
{
	cleanup_free char *doc = xasprintf("{'architecture':'amd64','os':'linux','config':{%s},"
					   "'rootfs':{'type':'layers','diff_ids':[]}}", cfg);
	cleanup_free char *j = jq(doc);
	struct oci_image_config *img = xzalloc(sizeof(*img));
	struct berr *err = NULL;

	if (oci_config_parse(j, strlen(j), "config.json", img, &err) < 0)
		fail_msg("image config refused: %s", berr_msg(err));
	return img;
}

static void image_free(struct oci_image_config *img)
{
	if (img)
		oci_config_free(img);
	free(img);
}

/* A temporary directory with root/ (the rootfs) in it. */
struct fx {
	char *dir;
	char *root;
	int rootfd;
};

static void write_file(const char *path, const char *content)
{
	FILE *f = fopen(path, "we");

	assert_non_null(f);
	assert_int_equal(fputs(content, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void fx_path_write(struct fx *x, const char *rel, const char *content)
{
	cleanup_free char *p = xasprintf("%s/%s", x->dir, rel);
	cleanup_free char *parent = xstrdup(p);
	struct berr *err = NULL;

	*strrchr(parent, '/') = '\0';
	if (fs_mkdir_p(parent, 0755, &err) < 0)
		fail_msg("%s", berr_msg(err));
	write_file(p, content);
}

static const char PASSWD[] =
	"root:x:0:0:root:/root:/bin/sh\n"
	"daemon:x:1:1::/:/bin/false\n"
	"# a comment line\n"
	"\n"
	"app:x:1000:1000:App:/home/app:/bin/sh\n"
	"broken line without fields\n"
	"weird:x:notanumber:5::/:/bin/sh\n"
	"big:x:4294967295:1::/:/bin/sh\n"
	"app:x:1111:1111:second app, never used:/:/bin/sh\n";

static const char GROUP[] =
	"root:x:0:\n"
	"wheel:x:10:root,app\n"
	"users:x:100:other,app\n"
	"staff:x:50:other\n"
	"app:x:1000:\n"
	"extra:x:3000:\n"
	"nomembers:x:60\n";

static struct fx *fx_new(bool etc)
{
	struct fx *x = xzalloc(sizeof(*x));
	char tmpl[] = "/tmp/berth-test-spec-XXXXXX";

	assert_non_null(mkdtemp(tmpl));
	x->dir = xstrdup(tmpl);
	x->root = xasprintf("%s/root", x->dir);
	assert_int_equal(mkdir(x->root, 0755), 0);
	if (etc) {
		fx_path_write(x, "root/etc/passwd", PASSWD);
		fx_path_write(x, "root/etc/group", GROUP);
	}
	x->rootfd = open(x->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(x->rootfd >= 0);
	return x;
}

static void fx_free(struct fx *x)
{
	struct berr *err = NULL;

	close(x->rootfd);
	if (fs_rm_rf_at(AT_FDCWD, x->dir, &err) < 0)
		fail_msg("%s", berr_msg(err));
	free(x->dir);
	free(x->root);
	free(x);
}

static struct ctr_spec *resolve_ok(const struct task_def *td, size_t idx,
				   const struct oci_image_config *img, int rootfd,
				   const struct ctr_resolve_opts *o)
{
	struct ctr_spec *s = NULL;
	struct berr *err = NULL;

	if (ctr_spec_resolve(td, idx, img, rootfd, o, &s, &err) < 0)
		fail_msg("unexpected error: %s", berr_msg(err));
	assert_non_null(s);
	assert_null(err);
	return s;
}

/* Resolving must fail with exactly msg. */
static void resolve_err(const struct task_def *td, size_t idx, const struct oci_image_config *img,
			int rootfd, const struct ctr_resolve_opts *o, const char *msg)
{
	struct ctr_spec *s = (struct ctr_spec *)0x1;
	struct berr *err = NULL;

	assert_true(ctr_spec_resolve(td, idx, img, rootfd, o, &s, &err) < 0);
	assert_null(s);
	assert_non_null(err);
	assert_string_equal(berr_msg(err), msg);
	berr_clear(&err);
}

static void assert_strv(char *const *v, const char *const *want)
{
	size_t i;

	for (i = 0; want[i]; i++) {
		if (v[i] == NULL)
			fail_msg("entry %zu missing, want \"%s\"", i, want[i]);
		assert_string_equal(v[i], want[i]);
	}
	if (v[i] != NULL)
		fail_msg("extra entry %zu: \"%s\"", i, v[i]);
}

#define STRV(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void assert_groups(const struct ctr_spec *s, size_t n, const gid_t *want)
{
	assert_int_equal(s->n_groups, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(s->groups[i], want[i]);
}

#define GROUPS(s, ...) do { \
	const gid_t w_[] = { __VA_ARGS__ }; \
	assert_groups(s, sizeof(w_) / sizeof(w_[0]), w_); \
} while (0)

/* One container "app" with extra fields `f` in an EC2 task. */
static struct task_def *one(const char *f)
{
	cleanup_free char *c = xasprintf("{'name':'app','image':'img'%s}", f);

	return ec2("", c);
}

/* -------------------------------------------------------------- argv */

static void test_argv_image_entrypoint_and_cmd(void **state)
{
	struct task_def *td = one("");
	struct oci_image_config *img = image("'Entrypoint':['/bin/ep','-x'],'Cmd':['serve','--port=80']");
	struct ctr_spec *s = resolve_ok(td, 0, img, -1, NULL);

	assert_strv(s->argv, STRV("/bin/ep", "-x", "serve", "--port=80"));
	assert_string_equal(s->name, "app");
	ctr_spec_free(s);
	image_free(img);
	task_def_free(td);
}

static void test_argv_command_replaces_cmd(void **state)
{
	struct task_def *td = one(",'command':['worker','-v']");
	struct oci_image_config *img = image("'Entrypoint':['/bin/ep'],'Cmd':['serve']");
	struct ctr_spec *s = resolve_ok(td, 0, img, -1, NULL);

	assert_strv(s->argv, STRV("/bin/ep", "worker", "-v"));
	ctr_spec_free(s);
	image_free(img);
	task_def_free(td);
}

static void test_argv_entrypoint_drops_image_cmd(void **state)
{
	struct task_def *td = one(",'entryPoint':['/bin/sh','-c']");
	struct oci_image_config *img = image("'Entrypoint':['/bin/ep'],'Cmd':['serve']");
	struct ctr_spec *s = resolve_ok(td, 0, img, -1, NULL);

	assert_strv(s->argv, STRV("/bin/sh", "-c"));
	ctr_spec_free(s);
	task_def_free(td);

	td = one(",'entryPoint':['/bin/sh','-c'],'command':['echo hi']");
	s = resolve_ok(td, 0, img, -1, NULL);
	assert_strv(s->argv, STRV("/bin/sh", "-c", "echo hi"));
	ctr_spec_free(s);
	image_free(img);
	task_def_free(td);
}

/* entryPoint [] (docker run --entrypoint ""): no entrypoint at all, the
 * image Cmd (or the command) runs alone. */
static void test_argv_empty_entrypoint(void **state)
{
	struct task_def *td = one(",'entryPoint':[]");
	struct oci_image_config *img = image("'Entrypoint':['/bin/ep'],'Cmd':['/bin/serve','x']");
	struct ctr_spec *s = resolve_ok(td, 0, img, -1, NULL);

	assert_strv(s->argv, STRV("/bin/serve", "x"));
	ctr_spec_free(s);
	task_def_free(td);

	/* command [] is "not given": the image Cmd stays */
	td = one(",'command':[]");
	s = resolve_ok(td, 0, img, -1, NULL);
	assert_strv(s->argv, STRV("/bin/ep", "/bin/serve", "x"));
	ctr_spec_free(s);
	image_free(img);
	task_def_free(td);
}

static void test_argv_none(void **state)
{
	struct task_def *td = ec2("", "{'name':'a','image':'i'},{'name':'web','image':'img'}");
	struct oci_image_config *img = image("'Env':['A=1']");

	resolve_err(td, 1, img, -1, NULL,
		    "containerDefinitions[1] (web): no command: the image has no Entrypoint or Cmd "
		    "and the definition gives neither entryPoint nor command");
	/* no image config at all */
	resolve_err(td, 0, NULL, -1, NULL,
		    "containerDefinitions[0] (a): no command: the image has no Entrypoint or Cmd "
		    "and the definition gives neither entryPoint nor command");
	/* an entryPoint of [] with a Cmd-less image */
	task_def_free(td);
	td = one(",'entryPoint':[]");
	image_free(img);
	img = image("'Entrypoint':['/bin/ep']");
	resolve_err(td, 0, img, -1, NULL,
		    "containerDefinitions[0] (app): no command: the image has no Entrypoint or Cmd "
		    "and the definition gives neither entryPoint nor command");
	image_free(img);
	task_def_free(td);
}

static void test_index_out_of_range(void **state)
{
	struct task_def *td = one(",'command':['x']");
	struct ctr_spec *s = (struct ctr_spec *)0x1;
	struct berr *err = NULL;

	assert_true(ctr_spec_resolve(td, 1, NULL, -1, NULL, &s, &err) < 0);
	assert_null(s);
	assert_string_equal(berr_msg(err), "resolve container 1: the task has 1 containers: "
			    "Invalid argument");
	berr_clear(&err);
	ctr_spec_free(NULL);
	task_def_free(td);
}

/* --------------------------------------------------------------- env */

static void test_env_merge_order(void **state)
{
	struct task_def *td = one(",'command':['x'],'hostname':'box',"
				  "'environment':[{'name':'B','value':'def'},{'name':'C','value':'c=1'},"
				  "{'name':'EMPTY'},{'name':'A','value':'last'}]");
	struct oci_image_config *img = image("'Env':['PATH=/img/bin','A=img','B=img']");
	struct ctr_spec *s = resolve_ok(td, 0, img, -1, NULL);

	/* HOSTNAME first (Docker), then the image's in place, then new ones */
	assert_strv(s->env, STRV("HOSTNAME=box", "PATH=/img/bin", "A=last", "B=def", "C=c=1", "EMPTY="));
	assert_string_equal(s->hostname, "box");
	ctr_spec_free(s);
	image_free(img);
	task_def_free(td);
}

static void test_env_default_path_and_hostname(void **state)
{
	struct task_def *td = one(",'command':['x']");
	struct ctr_resolve_opts o = { .default_hostname = "0123456789ab" };
	struct ctr_spec *s = resolve_ok(td, 0, NULL, -1, &o);

	assert_strv(s->env, STRV("PATH=" CTR_DEFAULT_PATH, "HOSTNAME=0123456789ab"));
	assert_string_equal(s->hostname, "0123456789ab");
	ctr_spec_free(s);

	/* no hostname known: no HOSTNAME, the UTS name is the task's */
	s = resolve_ok(td, 0, NULL, -1, NULL);
	assert_strv(s->env, STRV("PATH=" CTR_DEFAULT_PATH));
	assert_null(s->hostname);
	ctr_spec_free(s);
	task_def_free(td);

	/* the definition sets PATH and HOSTNAME itself: both are its values */
	td = one(",'command':['x'],'hostname':'h','environment':[{'name':'PATH','value':'/p'},"
		 "{'name':'HOSTNAME','value':'mine'}]");
	s = resolve_ok(td, 0, NULL, -1, &o);
	assert_strv(s->env, STRV("HOSTNAME=mine", "PATH=/p"));
	assert_string_equal(s->hostname, "h");
	ctr_spec_free(s);
	task_def_free(td);
}

static void test_env_extra_env(void **state)
{
	struct task_def *td = one(",'command':['x'],'environment':[{'name':'AWS_REGION','value':'mine'}]");
	struct oci_image_config *img = image("'Env':['PATH=/bin','ECS_X=img']");
	const char *const extra[] = { "ECS_CONTAINER_METADATA_URI_V4=http://169.254.170.2/v4/x",
				      "AWS_REGION=eu-west-1", "ECS_X=extra", NULL };
	struct ctr_resolve_opts o = { .extra_env = extra };
	struct ctr_spec *s = resolve_ok(td, 0, img, -1, &o);

	assert_strv(s->env, STRV("PATH=/bin", "ECS_X=extra",
				 "ECS_CONTAINER_METADATA_URI_V4=http://169.254.170.2/v4/x",
				 "AWS_REGION=mine"));
	ctr_spec_free(s);
	image_free(img);
	task_def_free(td);
}

static void test_env_files(void **state)
{
	struct fx *x = fx_new(false);
	cleanup_free char *envdir = xasprintf("%s/env", x->dir);
	cleanup_free char *abs = xasprintf("%s/abs.env", x->dir);
	cleanup_free char *f = NULL;
	struct task_def *td;
	struct oci_image_config *img = image("'Env':['PATH=/bin','FROM_IMG=img','SHARED=img']");
	struct ctr_resolve_opts o = { .env_file_base = envdir };
	struct ctr_spec *s;

	fx_path_write(x, "env/one.env",
		      "# settings\n"
		      "\n"
		      "   # indented comment\n"
		      "SHARED=file1\r\n"
		      "QUOTED=\"kept as is\" \n"
		      "EQ=a=b=c\n"
		      "DUP=first\n"
		      "DUP=second\n"
		      "EMPTYVAL=\n"
		      "OVERRIDDEN=file");
	fx_path_write(x, "abs.env", "SHARED=file2\nTWO=2\n");
	fx_path_write(x, "env/sub/three.env", "THREE=3\nDUP=third\n");
	f = xasprintf(",'command':['x'],'environmentFiles':["
		      "{'value':'one.env','type':'s3'},{'value':'%s','type':'s3'},"
		      "{'value':'file://sub/three.env','type':'s3'}],"
		      "'environment':[{'name':'OVERRIDDEN','value':'env'}]", abs);
	td = one(f);
	s = resolve_ok(td, 0, img, -1, &o);
	/* files beat the image; the first file naming a variable wins over
	 * later files (the ECS agent); within a file the last line wins;
	 * a KEY= line is not set at all; the definition beats every file */
	assert_strv(s->env, STRV("PATH=/bin", "FROM_IMG=img", "SHARED=file1",
				 "QUOTED=\"kept as is\" ", "EQ=a=b=c", "DUP=second",
				 "OVERRIDDEN=env", "TWO=2", "THREE=3"));
	ctr_spec_free(s);
	task_def_free(td);
	image_free(img);
	fx_free(x);
}

static void test_env_file_bad_line(void **state)
{
	struct fx *x = fx_new(false);
	cleanup_free char *good = xasprintf("%s/good.env", x->dir);
	cleanup_free char *bad = xasprintf("%s/bad.env", x->dir);
	cleanup_free char *f = xasprintf(",'command':['x'],'environmentFiles':["
					 "{'value':'%s','type':'s3'},{'value':'file://%s','type':'s3'}]",
					 good, bad);
	cleanup_free char *want = xasprintf("containerDefinitions[0] (app): environmentFiles[1]: "
					    "%s line 3: expected NAME=VALUE", bad);
	cleanup_free char *want2 = xasprintf("containerDefinitions[0] (app): environmentFiles[1]: "
					     "%s line 1: the name before '=' is empty", bad);
	struct task_def *td = one(f);

	fx_path_write(x, "good.env", "A=1\n");
	fx_path_write(x, "bad.env", "# fine\nB=2\nexport C\n");
	resolve_err(td, 0, NULL, -1, NULL, want);
	fx_path_write(x, "bad.env", "=2\n");
	resolve_err(td, 0, NULL, -1, NULL, want2);
	fx_path_write(x, "bad.env", "MY VAR=2\n");
	{
		cleanup_free char *w = xasprintf("containerDefinitions[0] (app): environmentFiles[1]: "
						 "%s line 1: the name \"MY VAR\" holds white space", bad);

		resolve_err(td, 0, NULL, -1, NULL, w);
	}
	task_def_free(td);
	fx_free(x);
}

static void test_env_file_s3_and_missing(void **state)
{
	struct task_def *td = one(",'command':['x'],'environmentFiles':["
				  "{'value':'arn:aws:s3:::bucket/app.env','type':'s3'}]");

	resolve_err(td, 0, NULL, -1, NULL,
		    "containerDefinitions[0] (app): environmentFiles[0]: not supported yet: "
		    "environmentFiles from S3 (\"arn:aws:s3:::bucket/app.env\"); give a path on this host");
	task_def_free(td);

	td = one(",'command':['x'],'environmentFiles':[{'value':'a.env','type':'s3'},"
		 "{'value':'/nonexistent/berth-test/b.env','type':'s3'}]");
	{
		struct fx *x = fx_new(false);
		cleanup_free char *dir = xstrdup(x->dir);
		struct ctr_resolve_opts o = { .env_file_base = dir };

		fx_path_write(x, "a.env", "A=1\n");
		resolve_err(td, 0, NULL, -1, &o,
			    "containerDefinitions[0] (app): environmentFiles[1]: open "
			    "/nonexistent/berth-test/b.env: No such file or directory");
		fx_free(x);
	}
	task_def_free(td);
}

/* --------------------------------------------------------------- user */

static void test_user_default_root(void **state)
{
	struct fx *x = fx_new(true);
	struct task_def *td = one(",'command':['x']");
	struct ctr_spec *s = resolve_ok(td, 0, NULL, x->rootfd, NULL);

	assert_string_equal(s->user, "");
	assert_int_equal(s->uid, 0);
	assert_int_equal(s->gid, 0);
	GROUPS(s, 0, 10);
	ctr_spec_free(s);

	/* "root" by name: the same */
	task_def_free(td);
	td = one(",'command':['x'],'user':'root'");
	s = resolve_ok(td, 0, NULL, x->rootfd, NULL);
	assert_string_equal(s->user, "root");
	assert_int_equal(s->uid, 0);
	GROUPS(s, 0, 10);
	ctr_spec_free(s);
	task_def_free(td);
	fx_free(x);
}

static void test_user_name_and_uid(void **state)
{
	struct fx *x = fx_new(true);
	struct task_def *td = one(",'command':['x'],'user':'app'");
	struct ctr_spec *s = resolve_ok(td, 0, NULL, x->rootfd, NULL);

	/* the first "app" line wins; supplementary: groups listing "app" */
	assert_int_equal(s->uid, 1000);
	assert_int_equal(s->gid, 1000);
	GROUPS(s, 1000, 10, 100);
	ctr_spec_free(s);
	task_def_free(td);

	/* a uid that passwd knows: its name's groups too */
	td = one(",'command':['x'],'user':'1000'");
	s = resolve_ok(td, 0, NULL, x->rootfd, NULL);
	assert_int_equal(s->uid, 1000);
	assert_int_equal(s->gid, 1000);
	GROUPS(s, 1000, 10, 100);
	ctr_spec_free(s);
	task_def_free(td);

	/* a uid passwd does not know: gid 0, no name, no supplementary groups */
	td = one(",'command':['x'],'user':'4242'");
	s = resolve_ok(td, 0, NULL, x->rootfd, NULL);
	assert_int_equal(s->uid, 4242);
	assert_int_equal(s->gid, 0);
	GROUPS(s, 0);
	ctr_spec_free(s);
	task_def_free(td);
	fx_free(x);
}

static void test_user_with_group(void **state)
{
	static const struct {
		const char *user;
		uid_t uid;
		gid_t gid;
	} cases[] = {
		{ "app:extra", 1000, 3000 },   /* name:group */
		{ "1000:2000", 1000, 2000 },   /* uid:gid, gid not in /etc/group */
		{ "app:2000", 1000, 2000 },    /* name:gid */
		{ "1000:extra", 1000, 3000 },  /* uid:group */
		{ "4242:staff", 4242, 50 },    /* unknown uid, known group */
		{ "app:100", 1000, 100 },      /* a gid that /etc/group knows */
	};
	struct fx *x = fx_new(true);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cleanup_free char *f = xasprintf(",'command':['x'],'user':'%s'", cases[i].user);
		struct task_def *td = one(f);
		struct ctr_spec *s = resolve_ok(td, 0, NULL, x->rootfd, NULL);

		assert_string_equal(s->user, cases[i].user);
		assert_int_equal(s->uid, cases[i].uid);
		assert_int_equal(s->gid, cases[i].gid);
		/* an explicit group: only that group (Docker reads no
		 * supplementary groups then) */
		GROUPS(s, cases[i].gid);
		ctr_spec_free(s);
		task_def_free(td);
	}
	fx_free(x);
}

static void test_user_errors(void **state)
{
	static const struct {
		const char *user, *msg;
	} cases[] = {
		{ "bob", "containerDefinitions[0] (app): user: no user \"bob\" in the image's /etc/passwd" },
		{ "app:nogroup", "containerDefinitions[0] (app): user: no group \"nogroup\" in the "
		  "image's /etc/group" },
		{ "4294967295", "containerDefinitions[0] (app): user: uid 4294967295 is out of range "
		  "(0-4294967294)" },
		{ "1:99999999999999999999999", "containerDefinitions[0] (app): user: gid "
		  "99999999999999999999999 is out of range (0-4294967294)" },
		{ "big", "containerDefinitions[0] (app): user: the image's /etc/passwd gives big uid "
		  "4294967295 gid 1, out of range (0-4294967294)" },
		{ "a:b:c", "containerDefinitions[0] (app): user: \"a:b:c\" is not user, uid, user:group "
		  "or uid:gid" },
		{ "weird", "containerDefinitions[0] (app): user: no user \"weird\" in the image's "
		  "/etc/passwd" },
	};
	struct fx *x = fx_new(true);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cleanup_free char *f = xasprintf(",'command':['x'],'user':'%s'", cases[i].user);
		struct task_def *td = one(f);

		resolve_err(td, 0, NULL, x->rootfd, NULL, cases[i].msg);
		task_def_free(td);
	}
	/* the largest valid uid */
	{
		struct task_def *td = one(",'command':['x'],'user':'4294967294:4294967294'");
		struct ctr_spec *s = resolve_ok(td, 0, NULL, x->rootfd, NULL);

		assert_int_equal(s->uid, 4294967294U);
		assert_int_equal(s->gid, 4294967294U);
		ctr_spec_free(s);
		task_def_free(td);
	}
	fx_free(x);
}

/* No /etc at all (a scratch image): numbers work, names do not. */
static void test_user_no_passwd(void **state)
{
	struct fx *x = fx_new(false);
	struct task_def *td = one(",'command':['x'],'user':'1000:1000'");
	struct ctr_spec *s = resolve_ok(td, 0, NULL, x->rootfd, NULL);

	assert_int_equal(s->uid, 1000);
	assert_int_equal(s->gid, 1000);
	GROUPS(s, 1000);
	ctr_spec_free(s);
	task_def_free(td);

	td = one(",'command':['x']");
	s = resolve_ok(td, 0, NULL, x->rootfd, NULL);
	assert_int_equal(s->uid, 0);
	assert_int_equal(s->gid, 0);
	GROUPS(s, 0);
	ctr_spec_free(s);
	task_def_free(td);

	td = one(",'command':['x'],'user':'app'");
	resolve_err(td, 0, NULL, x->rootfd, NULL,
		    "containerDefinitions[0] (app): user: no user \"app\" in the image's /etc/passwd "
		    "(the image has no /etc/passwd)");
	task_def_free(td);
	td = one(",'command':['x'],'user':'1:grp'");
	resolve_err(td, 0, NULL, x->rootfd, NULL,
		    "containerDefinitions[0] (app): user: no group \"grp\" in the image's /etc/group "
		    "(the image has no /etc/group)");
	task_def_free(td);
	fx_free(x);
}

/* /etc/passwd -> ../../outside/passwd: on the host that is a decoy next to
 * the rootfs (uid 6666); inside the root ".." stops at "/", so it is
 * root/outside/passwd (uid 4242). */
static void test_user_symlink_stays_in_root(void **state)
{
	struct fx *x = fx_new(false);
	cleanup_free char *link = xasprintf("%s/etc/passwd", x->root);
	struct task_def *td = one(",'command':['x'],'user':'app'");
	struct ctr_spec *s;

	fx_path_write(x, "outside/passwd", "app:x:6666:6666::/:/bin/sh\n");
	fx_path_write(x, "root/outside/passwd", "app:x:4242:4343::/:/bin/sh\n");
	fx_path_write(x, "root/etc/group", "g:x:7:app\n");
	assert_int_equal(symlink("../../outside/passwd", link), 0);
	s = resolve_ok(td, 0, NULL, x->rootfd, NULL);
	assert_int_equal(s->uid, 4242);
	assert_int_equal(s->gid, 4343);
	GROUPS(s, 4343, 7);
	ctr_spec_free(s);

	/* an absolute target climbing above "/" also lands inside */
	assert_int_equal(unlink(link), 0);
	assert_int_equal(symlink("/../../../../../srv/passwd", link), 0);
	fx_path_write(x, "root/srv/passwd", "app:x:5151:5152::/:/bin/sh\n");
	s = resolve_ok(td, 0, NULL, x->rootfd, NULL);
	assert_int_equal(s->uid, 5151);
	assert_int_equal(s->gid, 5152);
	ctr_spec_free(s);
	task_def_free(td);
	fx_free(x);
}

/* A fifo at /etc/passwd is refused without being opened (it would block). */
static void test_user_passwd_not_regular(void **state)
{
	struct fx *x = fx_new(false);
	cleanup_free char *etc = xasprintf("%s/etc", x->root);
	cleanup_free char *fifo = xasprintf("%s/etc/passwd", x->root);
	struct task_def *td = one(",'command':['x'],'user':'app'");

	assert_int_equal(mkdir(etc, 0755), 0);
	assert_int_equal(mkfifo(fifo, 0644), 0);
	resolve_err(td, 0, NULL, x->rootfd, NULL,
		    "containerDefinitions[0] (app): user: /etc/passwd in the image is not a regular file");
	task_def_free(td);
	fx_free(x);
}

static void test_user_definition_overrides_image(void **state)
{
	struct fx *x = fx_new(true);
	struct oci_image_config *img = image("'User':'app','Cmd':['x']");
	struct task_def *td = one("");
	struct ctr_spec *s = resolve_ok(td, 0, img, x->rootfd, NULL);

	assert_string_equal(s->user, "app");
	assert_int_equal(s->uid, 1000);
	ctr_spec_free(s);
	task_def_free(td);

	td = one(",'user':'daemon'");
	s = resolve_ok(td, 0, img, x->rootfd, NULL);
	assert_string_equal(s->user, "daemon");
	assert_int_equal(s->uid, 1);
	assert_int_equal(s->gid, 1);
	GROUPS(s, 1);
	ctr_spec_free(s);
	task_def_free(td);
	image_free(img);
	fx_free(x);
}

/* ---------------------------------------------------- cwd and hostname */

static void test_cwd(void **state)
{
	struct oci_image_config *img = image("'WorkingDir':'/srv//app/./','Cmd':['x']");
	struct oci_image_config *rel = image("'WorkingDir':'app','Cmd':['x']");
	struct task_def *td = one("");
	struct ctr_spec *s = resolve_ok(td, 0, img, -1, NULL);

	assert_string_equal(s->cwd, "/srv/app");
	ctr_spec_free(s);
	resolve_err(td, 0, rel, -1, NULL, "containerDefinitions[0] (app): workingDirectory: the "
		    "image's WorkingDir \"app\" is not an absolute path");
	task_def_free(td);

	td = one(",'command':['x']");
	s = resolve_ok(td, 0, NULL, -1, NULL);
	assert_string_equal(s->cwd, "/");
	ctr_spec_free(s);
	task_def_free(td);

	td = one(",'workingDirectory':'/data/../work/'");
	s = resolve_ok(td, 0, rel, -1, NULL);
	assert_string_equal(s->cwd, "/work");
	ctr_spec_free(s);
	task_def_free(td);
	image_free(img);
	image_free(rel);
}

/* ------------------------------------------------------------ rlimits */

static const struct ctr_rlimit *find_rlimit(const struct ctr_spec *s, int res, size_t *count)
{
	const struct ctr_rlimit *r = NULL;

	*count = 0;
	for (size_t i = 0; i < s->n_rlimits; i++) {
		if (s->rlimits[i].resource == res) {
			r = &s->rlimits[i];
			(*count)++;
		}
	}
	return r;
}

static void test_rlimits(void **state)
{
	struct task_def *td = one(",'command':['x']");
	struct ctr_spec *s = resolve_ok(td, 0, NULL, -1, NULL);
	const struct ctr_rlimit *r;
	size_t n;

	assert_int_equal(s->n_rlimits, 1);
	r = find_rlimit(s, RLIMIT_NOFILE, &n);
	assert_non_null(r);
	assert_int_equal(r->soft, 65535);
	assert_int_equal(r->hard, 65535);
	ctr_spec_free(s);
	task_def_free(td);

	td = one(",'command':['x'],'ulimits':[{'name':'nproc','softLimit':100,'hardLimit':200},"
		 "{'name':'nofile','softLimit':1024,'hardLimit':4096},"
		 "{'name':'memlock','softLimit':0,'hardLimit':9223372036854775807}]");
	s = resolve_ok(td, 0, NULL, -1, NULL);
	assert_int_equal(s->n_rlimits, 3);
	assert_int_equal(s->rlimits[0].resource, RLIMIT_NPROC);
	assert_int_equal(s->rlimits[0].soft, 100);
	assert_int_equal(s->rlimits[0].hard, 200);
	r = find_rlimit(s, RLIMIT_NOFILE, &n);
	assert_int_equal(n, 1);
	assert_int_equal(r->soft, 1024);
	assert_int_equal(r->hard, 4096);
	r = find_rlimit(s, RLIMIT_MEMLOCK, &n);
	assert_true(r->hard == 9223372036854775807ULL);
	ctr_spec_free(s);
	task_def_free(td);

	/* another limit alone: the nofile default is still added */
	td = one(",'command':['x'],'ulimits':[{'name':'core','softLimit':0,'hardLimit':0}]");
	s = resolve_ok(td, 0, NULL, -1, NULL);
	assert_int_equal(s->n_rlimits, 2);
	r = find_rlimit(s, RLIMIT_NOFILE, &n);
	assert_int_equal(n, 1);
	assert_int_equal(r->soft, 65535);
	ctr_spec_free(s);
	task_def_free(td);
}

static void test_rlimit_names(void **state)
{
	assert_int_equal(ctr_rlimit_resource("nofile"), RLIMIT_NOFILE);
	assert_int_equal(ctr_rlimit_resource("core"), RLIMIT_CORE);
	assert_int_equal(ctr_rlimit_resource("rttime"), RLIMIT_RTTIME);
	assert_int_equal(ctr_rlimit_resource("sigpending"), RLIMIT_SIGPENDING);
	assert_int_equal(ctr_rlimit_resource("stack"), RLIMIT_STACK);
	assert_int_equal(ctr_rlimit_resource("NOFILE"), -1);
	assert_int_equal(ctr_rlimit_resource("as"), -1);
	assert_int_equal(ctr_rlimit_resource(""), -1);
	assert_int_equal(ctr_rlimit_resource(NULL), -1);
	/* every name the task parser accepts is known here */
	static const char *const names[] = { "core", "cpu", "data", "fsize", "locks", "memlock",
		"msgqueue", "nice", "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending",
		"stack", NULL };
	for (size_t i = 0; names[i]; i++) {
		assert_true(task_ulimit_name_valid(names[i]));
		assert_true(ctr_rlimit_resource(names[i]) >= 0);
	}
}

/* ------------------------------------------------------------- mounts */

static void test_tmpfs_options(void **state)
{
	struct task_def *td = one(",'command':['x'],'linuxParameters':{'tmpfs':["
				  "{'containerPath':'/run','size':64,'mountOptions':[]},"
				  "{'containerPath':'/scratch/./x/','size':128,'mountOptions':"
				  "['exec','ro','mode=1777','noatime','uid=1000','rprivate','dev','nodev']}]}");
	struct ctr_spec *s = resolve_ok(td, 0, NULL, -1, NULL);

	assert_int_equal(s->n_mounts, 2);
	assert_int_equal(s->mounts[0].kind, CTR_MOUNT_TMPFS);
	assert_null(s->mounts[0].source);
	assert_string_equal(s->mounts[0].target, "/run");
	assert_string_equal(s->mounts[0].data, "size=64m");
	assert_int_equal(s->mounts[0].flags, MS_NOEXEC | MS_NOSUID | MS_NODEV);
	assert_false(s->mounts[0].read_only);

	assert_string_equal(s->mounts[1].target, "/scratch/x");
	assert_string_equal(s->mounts[1].data, "size=128m,mode=1777,uid=1000");
	/* exec undoes the default noexec; a later nodev undoes dev */
	assert_int_equal(s->mounts[1].flags, MS_NOSUID | MS_NODEV | MS_NOATIME);
	assert_true(s->mounts[1].read_only);
	ctr_spec_free(s);
	task_def_free(td);
}

static void test_tmpfs_bad_options(void **state)
{
	static const struct {
		const char *opts, *msg;
	} cases[] = {
		{ "'bind'", "linuxParameters.tmpfs[0].mountOptions[0]: \"bind\" is not supported for a tmpfs" },
		{ "'ro','remount'", "linuxParameters.tmpfs[0].mountOptions[1]: \"remount\" is not "
		  "supported for a tmpfs" },
		{ "'colour=red'", "linuxParameters.tmpfs[0].mountOptions[0]: \"colour=red\" is not a "
		  "tmpfs option" },
		{ "'mode='", "linuxParameters.tmpfs[0].mountOptions[0]: \"mode=\" is not a tmpfs option" },
		{ "'mode=1777,exec'", "linuxParameters.tmpfs[0].mountOptions[0]: \"mode=1777,exec\": "
		  "give one option per entry" },
		/* the size is the definition's: the kernel would take the last size= */
		{ "'size=1g'", "linuxParameters.tmpfs[0].mountOptions[0]: \"size=1g\" is not allowed: "
		  "the size comes from tmpfs[0].size" },
		{ "'mode=1777','nr_blocks=100'", "linuxParameters.tmpfs[0].mountOptions[1]: "
		  "\"nr_blocks=100\" is not allowed: the size comes from tmpfs[0].size" },
		{ "'size='", "linuxParameters.tmpfs[0].mountOptions[0]: \"size=\" is not allowed: "
		  "the size comes from tmpfs[0].size" },
		{ "'huge=always'", "linuxParameters.tmpfs[0].mountOptions[0]: \"huge=always\" is not "
		  "allowed: ECS does not take it in mountOptions" },
		/* keys are case-sensitive, as the kernel's */
		{ "'Size=1g'", "linuxParameters.tmpfs[0].mountOptions[0]: \"Size=1g\" is not a tmpfs "
		  "option" },
		/* a size key inside a comma list is still one entry too many */
		{ "'mode=1,size=2'", "linuxParameters.tmpfs[0].mountOptions[0]: \"mode=1,size=2\": "
		  "give one option per entry" },
		/* untrusted text is escaped in the message */
		{ "'x\\u001b[2J\\\\\\\"'", "linuxParameters.tmpfs[0].mountOptions[0]: "
		  "\"x\\u001b[2J\\\\\\\"\" is not supported for a tmpfs" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cleanup_free char *f = xasprintf(",'command':['x'],'linuxParameters':{'tmpfs':["
						 "{'containerPath':'/t','size':1,'mountOptions':[%s]}]}",
						 cases[i].opts);
		cleanup_free char *want = xasprintf("containerDefinitions[0] (app): %s", cases[i].msg);
		struct task_def *td = one(f);

		resolve_err(td, 0, NULL, -1, NULL, want);
		task_def_free(td);
	}
}

/* Every option ECS documents for tmpfs mountOptions that berth can honour
 * on a tmpfs is accepted (bind, rbind and remount are not tmpfs mounts;
 * nr_blocks would replace the size, see test_tmpfs_bad_options). */
static void test_tmpfs_ecs_options(void **state)
{
	static const char *const ok[] = {
		"defaults", "ro", "rw", "suid", "nosuid", "dev", "nodev", "exec", "noexec", "sync",
		"async", "dirsync", "mand", "nomand", "atime", "noatime", "diratime", "nodiratime",
		"unbindable", "runbindable", "private", "rprivate", "shared", "rshared", "slave",
		"rslave", "relatime", "norelatime", "strictatime", "nostrictatime", "mode=0700",
		"uid=1", "gid=2", "nr_inodes=1k", "mpol=default", NULL,
	};

	for (size_t i = 0; ok[i]; i++) {
		cleanup_free char *f = xasprintf(",'command':['x'],'linuxParameters':{'tmpfs':["
						 "{'containerPath':'/t','size':8,'mountOptions':['%s']}]}",
						 ok[i]);
		cleanup_free char *want = xasprintf("size=8m%s%s", strchr(ok[i], '=') ? "," : "",
						    strchr(ok[i], '=') ? ok[i] : "");
		struct task_def *td = one(f);
		struct ctr_spec *s = resolve_ok(td, 0, NULL, -1, NULL);

		assert_int_equal(s->n_mounts, 1);
		assert_string_equal(s->mounts[0].data, want);
		ctr_spec_free(s);
		task_def_free(td);
	}
}

/* The error names the tmpfs and the option by index, and the size field of
 * that tmpfs. */
static void test_tmpfs_size_option_index(void **state)
{
	struct task_def *td = one(",'command':['x'],'linuxParameters':{'tmpfs':["
				  "{'containerPath':'/a','size':8,'mountOptions':['mode=1777']},"
				  "{'containerPath':'/b','size':8,'mountOptions':['noatime','uid=0',"
				  "'nr_blocks=1']}]}");

	resolve_err(td, 0, NULL, -1, NULL, "containerDefinitions[0] (app): linuxParameters.tmpfs[1]"
		    ".mountOptions[2]: \"nr_blocks=1\" is not allowed: the size comes from "
		    "tmpfs[1].size");
	task_def_free(td);
}

static void test_mount_targets(void **state)
{
	static const struct {
		const char *f, *msg;
	} cases[] = {
		{ "'linuxParameters':{'tmpfs':[{'containerPath':'/','size':1,'mountOptions':[]}]}",
		  "linuxParameters.tmpfs[0].containerPath: \"/\" names the root directory" },
		{ "'linuxParameters':{'tmpfs':[{'containerPath':'/a/../..','size':1,'mountOptions':[]}]}",
		  "linuxParameters.tmpfs[0].containerPath: \"/a/../..\" names the root directory" },
		{ "'mountPoints':[{'sourceVolume':'data','containerPath':'/x/..'}]",
		  "mountPoints[0].containerPath: \"/x/..\" names the root directory" },
		{ "'mountPoints':[{'sourceVolume':'data','containerPath':'/d'},"
		  "{'sourceVolume':'data','containerPath':'/d/'}]",
		  "mountPoints[1]: containerPath /d/ is already a mount target" },
		{ "'linuxParameters':{'tmpfs':[{'containerPath':'/d','size':1,'mountOptions':[]}]},"
		  "'mountPoints':[{'sourceVolume':'data','containerPath':'//d'}]",
		  "mountPoints[0]: containerPath //d is already a mount target" },
		{ "'linuxParameters':{'tmpfs':[{'containerPath':'/d','size':1,'mountOptions':[]},"
		  "{'containerPath':'/d/.','size':1,'mountOptions':[]}]}",
		  "linuxParameters.tmpfs[1].containerPath: /d is already a mount target" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cleanup_free char *c = xasprintf("{'name':'app','image':'i','command':['x'],%s}", cases[i].f);
		cleanup_free char *want = xasprintf("containerDefinitions[0] (app): %s", cases[i].msg);
		struct task_def *td = ec2(",'volumes':[{'name':'data','host':{'sourcePath':'/srv/d'}}]", c);

		resolve_err(td, 0, NULL, -1, NULL, want);
		task_def_free(td);
	}
}

static void test_volumes(void **state)
{
	struct fx *x = fx_new(false);
	cleanup_free char *hostfile = xasprintf("%s/host.conf", x->dir);
	cleanup_free char *vols = xasprintf("%s/vols", x->dir);
	cleanup_free char *extra = xasprintf(",'volumes':[{'name':'data','host':{'sourcePath':'/srv//data/'}},"
					     "{'name':'scratch'},{'name':'conf','host':{'sourcePath':'%s'}}]",
					     hostfile);
	struct ctr_resolve_opts o = { .volumes_dir = vols, .hosts_file = "/run/t/hosts",
				      .resolv_file = "/run/t/resolv.conf",
				      .hostname_file = "/run/t/hostname" };
	struct task_def *td;
	struct ctr_spec *s;

	fx_path_write(x, "host.conf", "x=1\n");
	td = ec2(extra, "{'name':'app','image':'i','command':['x'],"
		 "'mountPoints':[{'sourceVolume':'data','containerPath':'/data','readOnly':true},"
		 "{'sourceVolume':'scratch','containerPath':'/tmp/s/'},"
		 "{'sourceVolume':'conf','containerPath':'/etc/app.conf'}],"
		 "'linuxParameters':{'tmpfs':[{'containerPath':'/run','size':8,'mountOptions':[]}]}}");
	s = resolve_ok(td, 0, NULL, -1, &o);
	assert_int_equal(s->n_mounts, 7);
	/* tmpfs first, then the mount points in order, then the /etc files */
	assert_int_equal(s->mounts[0].kind, CTR_MOUNT_TMPFS);
	assert_string_equal(s->mounts[0].target, "/run");

	assert_int_equal(s->mounts[1].kind, CTR_MOUNT_BIND);
	assert_string_equal(s->mounts[1].source, "/srv/data");
	assert_string_equal(s->mounts[1].target, "/data");
	assert_true(s->mounts[1].read_only);
	assert_false(s->mounts[1].create_file);
	assert_null(s->mounts[1].data);

	{
		cleanup_free char *want = xasprintf("%s/scratch", vols);

		assert_string_equal(s->mounts[2].source, want);
	}
	assert_string_equal(s->mounts[2].target, "/tmp/s");
	assert_false(s->mounts[2].read_only);

	/* a host file is bound onto a file */
	assert_string_equal(s->mounts[3].source, hostfile);
	assert_string_equal(s->mounts[3].target, "/etc/app.conf");
	assert_true(s->mounts[3].create_file);

	static const char *const etc[][2] = {
		{ "/run/t/hosts", "/etc/hosts" },
		{ "/run/t/resolv.conf", "/etc/resolv.conf" },
		{ "/run/t/hostname", "/etc/hostname" },
	};
	for (size_t i = 0; i < 3; i++) {
		const struct ctr_mount *m = &s->mounts[4 + i];

		assert_int_equal(m->kind, CTR_MOUNT_BIND);
		assert_string_equal(m->source, etc[i][0]);
		assert_string_equal(m->target, etc[i][1]);
		assert_true(m->create_file);
		assert_false(m->read_only);
	}
	ctr_spec_free(s);

	/* without a volumes directory a task-scoped volume cannot be placed */
	resolve_err(td, 0, NULL, -1, NULL, "containerDefinitions[0] (app): mountPoints[1]: volume "
		    "\"scratch\" is task-scoped but no volume directory was given: Invalid argument");
	task_def_free(td);
	fx_free(x);
}

/* The definition's own mount of /etc/hosts wins over the task's file. */
static void test_etc_files_yield_to_mounts(void **state)
{
	struct task_def *td = ec2(",'volumes':[{'name':'h','host':{'sourcePath':'/srv/hosts'}}]",
				  "{'name':'app','image':'i','command':['x'],"
				  "'mountPoints':[{'sourceVolume':'h','containerPath':'/etc/hosts'}]}");
	struct ctr_resolve_opts o = { .hosts_file = "/run/t/hosts", .resolv_file = "/run/t/resolv.conf" };
	struct ctr_spec *s = resolve_ok(td, 0, NULL, -1, &o);

	assert_int_equal(s->n_mounts, 2);
	assert_string_equal(s->mounts[0].source, "/srv/hosts");
	assert_string_equal(s->mounts[0].target, "/etc/hosts");
	assert_string_equal(s->mounts[1].source, "/run/t/resolv.conf");
	assert_string_equal(s->mounts[1].target, "/etc/resolv.conf");
	ctr_spec_free(s);
	task_def_free(td);
}

static void test_volumes_from(void **state)
{
	struct task_def *td = ec2(
		",'volumes':[{'name':'a','host':{'sourcePath':'/srv/a'}},"
		"{'name':'b','host':{'sourcePath':'/srv/b'}},{'name':'c','host':{'sourcePath':'/srv/c'}}]",
		"{'name':'base','image':'i','command':['x'],"
		" 'mountPoints':[{'sourceVolume':'c','containerPath':'/c'}]},"
		"{'name':'data','image':'i','command':['x'],"
		" 'mountPoints':[{'sourceVolume':'a','containerPath':'/a'},"
		"  {'sourceVolume':'b','containerPath':'/b','readOnly':true}],"
		" 'volumesFrom':[{'sourceContainer':'base'},{'sourceContainer':'app'}]},"
		"{'name':'app','image':'i','command':['x'],"
		" 'mountPoints':[{'sourceVolume':'c','containerPath':'/a'}],"
		" 'volumesFrom':[{'sourceContainer':'data','readOnly':true}]},"
		"{'name':'rw','image':'i','command':['x'],"
		" 'volumesFrom':[{'sourceContainer':'data'}]}");
	struct ctr_spec *s = resolve_ok(td, 2, NULL, -1, NULL);

	/* its own /a, then data's /b (data's /a is shadowed), then base's /c
	 * through data; all read-only by the reference; the cycle back to app
	 * is not followed */
	assert_int_equal(s->n_mounts, 3);
	assert_string_equal(s->mounts[0].target, "/a");
	assert_string_equal(s->mounts[0].source, "/srv/c");
	assert_false(s->mounts[0].read_only);
	assert_string_equal(s->mounts[1].target, "/b");
	assert_string_equal(s->mounts[1].source, "/srv/b");
	assert_true(s->mounts[1].read_only);
	assert_string_equal(s->mounts[2].target, "/c");
	assert_string_equal(s->mounts[2].source, "/srv/c");
	assert_true(s->mounts[2].read_only);
	ctr_spec_free(s);

	/* without readOnly: the source's own modes */
	s = resolve_ok(td, 3, NULL, -1, NULL);
	assert_int_equal(s->n_mounts, 3);
	assert_string_equal(s->mounts[0].target, "/a");
	assert_string_equal(s->mounts[0].source, "/srv/a");
	assert_false(s->mounts[0].read_only);
	assert_string_equal(s->mounts[1].target, "/b");
	assert_true(s->mounts[1].read_only);
	assert_string_equal(s->mounts[2].target, "/c");
	assert_false(s->mounts[2].read_only);
	ctr_spec_free(s);
	task_def_free(td);
}

static void test_devices_and_shm(void **state)
{
	struct task_def *td = one(",'command':['x'],'linuxParameters':{'sharedMemorySize':256,"
				  "'devices':[{'hostPath':'/dev/fuse','permissions':[]},"
				  "{'hostPath':'/dev/nvidia0','containerPath':'/dev//gpu0/',"
				  "'permissions':['read','write']}]}");
	struct ctr_spec *s = resolve_ok(td, 0, NULL, -1, NULL);

	assert_int_equal(s->n_devices, 2);
	assert_string_equal(s->devices[0].host_path, "/dev/fuse");
	assert_string_equal(s->devices[0].container_path, "/dev/fuse");
	assert_true(s->devices[0].read && s->devices[0].write && s->devices[0].mknod);
	assert_string_equal(s->devices[1].host_path, "/dev/nvidia0");
	assert_string_equal(s->devices[1].container_path, "/dev/gpu0");
	assert_true(s->devices[1].read && s->devices[1].write);
	assert_false(s->devices[1].mknod);
	assert_int_equal(s->shm_size, 256ULL << 20);
	ctr_spec_free(s);
	task_def_free(td);

	td = one(",'command':['x']");
	s = resolve_ok(td, 0, NULL, -1, NULL);
	assert_int_equal(s->n_devices, 0);
	assert_null(s->devices);
	assert_int_equal(s->shm_size, CTR_DEFAULT_SHM_BYTES);
	ctr_spec_free(s);
	task_def_free(td);
}

/* -------------------------------------------------- signals, timeouts */

static void test_signal_parse(void **state)
{
	assert_int_equal(ctr_signal_parse("SIGTERM"), SIGTERM);
	assert_int_equal(ctr_signal_parse("TERM"), SIGTERM);
	assert_int_equal(ctr_signal_parse("sigquit"), SIGQUIT);
	assert_int_equal(ctr_signal_parse("15"), 15);
	assert_int_equal(ctr_signal_parse("9"), SIGKILL);
	assert_int_equal(ctr_signal_parse("SIGWINCH"), SIGWINCH);
	assert_int_equal(ctr_signal_parse("USR1"), SIGUSR1);
	assert_int_equal(ctr_signal_parse("SIGRTMIN"), 34);
	assert_int_equal(ctr_signal_parse("RTMIN+3"), 37);
	assert_int_equal(ctr_signal_parse("SIGRTMAX-1"), 63);
	assert_int_equal(ctr_signal_parse("RTMAX"), 64);
	assert_int_equal(ctr_signal_parse("64"), 64);
	assert_int_equal(ctr_signal_parse("65"), -1);
	assert_int_equal(ctr_signal_parse("0"), -1);
	assert_int_equal(ctr_signal_parse("-9"), -1);
	assert_int_equal(ctr_signal_parse("RTMIN+31"), -1);
	assert_int_equal(ctr_signal_parse("RTMIN-1"), -1);
	assert_int_equal(ctr_signal_parse("SIGFOO"), -1);
	assert_int_equal(ctr_signal_parse("SIG"), -1);
	assert_int_equal(ctr_signal_parse(""), -1);
	assert_int_equal(ctr_signal_parse(NULL), -1);
}

static void test_stop_signal_and_timeout(void **state)
{
	struct task_def *td = one(",'command':['x']");
	struct oci_image_config *quit = image("'StopSignal':'SIGQUIT'");
	struct oci_image_config *rt = image("'StopSignal':'RTMIN+2'");
	struct oci_image_config *bad = image("'StopSignal':'SIGFOO'");
	struct ctr_spec *s = resolve_ok(td, 0, NULL, -1, NULL);

	assert_int_equal(s->stop_signal, SIGTERM);
	assert_int_equal(s->stop_timeout, CTR_DEFAULT_STOP_TIMEOUT);
	ctr_spec_free(s);
	s = resolve_ok(td, 0, quit, -1, NULL);
	assert_int_equal(s->stop_signal, SIGQUIT);
	ctr_spec_free(s);
	s = resolve_ok(td, 0, rt, -1, NULL);
	assert_int_equal(s->stop_signal, 36);
	ctr_spec_free(s);
	resolve_err(td, 0, bad, -1, NULL, "containerDefinitions[0] (app): image: img: the image "
		    "config's StopSignal \"SIGFOO\" is not a signal");
	task_def_free(td);

	td = one(",'command':['x'],'stopTimeout':90");
	s = resolve_ok(td, 0, quit, -1, NULL);
	assert_int_equal(s->stop_timeout, 90);
	ctr_spec_free(s);
	task_def_free(td);
	image_free(quit);
	image_free(rt);
	image_free(bad);
}

/* ------------------------------------------------ untrusted text quoted */

/* No control byte (a terminal escape, a line break) in s. */
static void assert_no_ctl(const char *s)
{
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			fail_msg("control byte 0x%02x at %zu in \"%s\"", (unsigned char)*p,
				 (size_t)(p - s), s);
}

/* Like resolve_err, and the message has no control byte. */
static void resolve_err_clean(const struct task_def *td, const struct oci_image_config *img,
			      int rootfd, const char *msg)
{
	struct ctr_spec *s = NULL;
	struct berr *err = NULL;

	assert_true(ctr_spec_resolve(td, 0, img, rootfd, NULL, &s, &err) < 0);
	assert_null(s);
	assert_no_ctl(berr_msg(err));
	assert_string_equal(berr_msg(err), msg);
	berr_clear(&err);
}

/* Names and ids from the image's /etc/passwd and /etc/group, and the user
 * string itself, are escaped in errors. */
static void test_quote_user_and_image_files(void **state)
{
	struct fx *x = fx_new(false);
	static const struct {
		const char *user, *msg;
	} cases[] = {
		/* the user string (JSON \u escapes in the definition) */
		{ "\\u001b]0;pwned\\u0007", "user: no user \"\\u001b]0;pwned\\u0007\" in the "
		  "image's /etc/passwd" },
		{ "a:\\u001b[2J:c", "user: \"a:\\u001b[2J:c\" is not user, uid, user:group or "
		  "uid:gid" },
		{ "app:gr\\np", "user: no group \"gr\\u000ap\" in the image's /etc/group" },
		/* a passwd entry whose name has a BEL and an out-of-range uid */
		{ "ev\\u0007il", "user: the image's /etc/passwd gives ev\\u0007il uid 4294967295 "
		  "gid 1, out of range (0-4294967294)" },
		/* a group the user is in, named with an escape, gid out of range */
		{ "app", "user: group \\u001b[31mred in the image's /etc/group has gid 4294967295, "
		  "out of range" },
		/* an explicit group found by a name with a quote and a backslash */
		{ "app:q\\\"b\\\\s", "user: group q\\\"b\\\\s in the image's /etc/group has gid "
		  "4294967296, out of range" },
	};

	fx_path_write(x, "root/etc/passwd", "app:x:1000:1000::/:/bin/sh\n"
		      "ev\ail:x:4294967295:1::/:/bin/sh\n");
	fx_path_write(x, "root/etc/group", "\033[31mred:x:4294967295:app\n"
		      "q\"b\\s:x:4294967296:\n");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cleanup_free char *f = xasprintf(",'command':['x'],'user':'%s'", cases[i].user);
		cleanup_free char *want = xasprintf("containerDefinitions[0] (app): %s", cases[i].msg);
		struct task_def *td = one(f);

		resolve_err_clean(td, NULL, x->rootfd, want);
		task_def_free(td);
	}
	fx_free(x);
}

/* Values from the image config and paths from the definition. */
static void test_quote_image_config_and_paths(void **state)
{
	struct oci_image_config *stop = image("'Cmd':['x'],'StopSignal':'\\u001b[2J'");
	struct oci_image_config *wd = image("'Cmd':['x'],'WorkingDir':'w\\r\\nd'");
	struct task_def *td = one("");

	resolve_err_clean(td, stop, -1, "containerDefinitions[0] (app): image: img: the image "
			  "config's StopSignal \"\\u001b[2J\" is not a signal");
	resolve_err_clean(td, wd, -1, "containerDefinitions[0] (app): workingDirectory: the "
			  "image's WorkingDir \"w\\u000d\\u000ad\" is not an absolute path");
	task_def_free(td);

	/* the image reference from the definition, cut after 64 bytes */
	td = ec2("", "{'name':'app','image':'\\u001b[1m"
		 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'}");
	resolve_err_clean(td, stop, -1, "containerDefinitions[0] (app): image: \\u001b[1m"
			  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...: the image "
			  "config's StopSignal \"\\u001b[2J\" is not a signal");
	task_def_free(td);

	td = one(",'command':['x'],'linuxParameters':{'tmpfs':[{'containerPath':'/a\\u001b/..',"
		 "'size':1,'mountOptions':[]}]}");
	resolve_err_clean(td, NULL, -1, "containerDefinitions[0] (app): linuxParameters.tmpfs[0]"
			  ".containerPath: \"/a\\u001b/..\" names the root directory");
	task_def_free(td);

	td = one(",'command':['x'],'environmentFiles':[{'value':'arn:x\\u0007','type':'s3'}]");
	resolve_err_clean(td, NULL, -1, "containerDefinitions[0] (app): environmentFiles[0]: "
			  "\"arn:x\\u0007\" is neither an S3 object ARN nor a path");
	task_def_free(td);
	image_free(stop);
	image_free(wd);
}

struct log_capture {
	size_t n;
	char *lines[8];
};

static void capture_sink(enum blog_level level, const char *msg, void *data)
{
	struct log_capture *lc = data;

	(void)level;
	if (lc->n < sizeof(lc->lines) / sizeof(lc->lines[0]))
		lc->lines[lc->n++] = xstrdup(msg);
}

/* Env files: their path (which the definition names) and their lines are
 * escaped in errors and in the empty-value warning; a long name is cut
 * (it was printed whole with %.*s, up to the 4 MiB of the file). */
static void test_quote_env_files(void **state)
{
	struct fx *x = fx_new(false);
	cleanup_free char *dir = xasprintf("%s/d\033[1m", x->dir);
	cleanup_free char *path = xasprintf("%s/e.env", dir);
	cleanup_free char *qdir = xasprintf("%s/d\\u001b[1m", x->dir);
	cleanup_free char *f = xasprintf(",'command':['x'],'environmentFiles':"
					 "[{'value':'d\\u001b[1m/e.env','type':'s3'}]");
	struct ctr_resolve_opts o = { .env_file_base = x->dir };
	struct log_capture lc = { 0 };
	struct task_def *td = one(f);
	cleanup_free char *long_name = xmalloc(1001);
	struct berr *err = NULL;
	struct ctr_spec *s = NULL;

	assert_int_equal(mkdir(dir, 0755), 0);

	/* a missing file: the open error names the path, escaped */
	{
		cleanup_free char *want = xasprintf("containerDefinitions[0] (app): environmentFiles[0]: "
						    "open %s/e.env: %s", qdir, strerror(ENOENT));

		/* the test directory's own name is plain text, so it shows as it is */
		assert_null(strpbrk(x->dir, "\"\\"));
		resolve_err(td, 0, NULL, -1, &o, want);
	}

	/* a name with white space and an escape */
	write_file(path, "A\033[2J B=1\n");
	{
		cleanup_free char *want = xasprintf("containerDefinitions[0] (app): environmentFiles[0]: "
						    "%s/e.env line 1: the name \"A\\u001b[2J B\" holds "
						    "white space", qdir);

		resolve_err(td, 0, NULL, -1, &o, want);
	}

	/* a 1000-byte name with a space at its end: cut after 64 bytes */
	memset(long_name, 'N', 1000);
	long_name[999] = ' ';
	long_name[1000] = '\0';
	{
		cleanup_free char *content = xasprintf("%s=v\n", long_name);
		cleanup_free char *want = xasprintf("containerDefinitions[0] (app): environmentFiles[0]: "
						    "%s/e.env line 1: the name \"%.64s...\" holds "
						    "white space", qdir, long_name);

		write_file(path, content);
		resolve_err(td, 0, NULL, -1, &o, want);
	}

	/* too big: refused before any line is read */
	{
		cleanup_free char *want = xasprintf("containerDefinitions[0] (app): environmentFiles[0]: "
						    "read %s/e.env: more than %u bytes: %s", qdir,
						    4u << 20, strerror(EFBIG));
		cleanup_free char *content = xmalloc((4u << 20) + 2);

		memset(content, '#', (4u << 20) + 1);
		content[(4u << 20) + 1] = '\0';
		write_file(path, content);
		resolve_err(td, 0, NULL, -1, &o, want);
	}

	/* an empty value: the warning is one line, escaped */
	write_file(path, "OK=1\n\033]0;t\a=\nX\001Y=\n");
	blog_set_sink(capture_sink, &lc);
	assert_int_equal(ctr_spec_resolve(td, 0, NULL, -1, &o, &s, &err), 0);
	blog_set_sink(NULL, NULL);
	assert_non_null(s);
	ctr_spec_free(s);
	assert_int_equal(lc.n, 2);
	{
		cleanup_free char *w1 = xasprintf("containerDefinitions[0] (app): environmentFiles[0]: "
						  "%s/e.env line 2: \\u001b]0;t\\u0007 has an empty "
						  "value and is not set (as ECS does)", qdir);
		cleanup_free char *w2 = xasprintf("containerDefinitions[0] (app): environmentFiles[0]: "
						  "%s/e.env line 3: X\\u0001Y has an empty value and is "
						  "not set (as ECS does)", qdir);

		assert_no_ctl(lc.lines[0]);
		assert_string_equal(lc.lines[0], w1);
		assert_no_ctl(lc.lines[1]);
		assert_string_equal(lc.lines[1], w2);
	}
	for (size_t i = 0; i < lc.n; i++)
		free(lc.lines[i]);
	task_def_free(td);
	fx_free(x);
}

/* -------------------------------------------------------- capabilities */

static void test_caps_default(void **state)
{
	struct task_def *td = one(",'command':['x'],'readonlyRootFilesystem':true,"
				  "'linuxParameters':{'initProcessEnabled':true}");
	struct ctr_spec *s = resolve_ok(td, 0, NULL, -1, NULL);

	assert_true(s->caps == ctr_caps_default());
	assert_true(s->caps & BIT(CAP_NET_BIND_SERVICE));
	assert_false(s->caps & BIT(CAP_SYS_ADMIN));
	assert_true(s->no_new_privs);
	assert_false(s->privileged);
	assert_true(s->readonly_rootfs);
	assert_true(s->init);
	ctr_spec_free(s);
	task_def_free(td);
}

static void test_caps_add_drop(void **state)
{
	struct task_def *td = one(",'command':['x'],'linuxParameters':{'capabilities':"
				  "{'add':['NET_ADMIN','SYS_TIME'],'drop':['CHOWN','NET_RAW','SYS_TIME']}}");
	struct ctr_spec *s = resolve_ok(td, 0, NULL, -1, NULL);

	assert_true(s->caps == ((ctr_caps_default() | BIT(CAP_NET_ADMIN)) &
				~(BIT(CAP_CHOWN) | BIT(CAP_NET_RAW))));
	ctr_spec_free(s);
	task_def_free(td);

	/* drop ALL, add one: only that one */
	td = one(",'command':['x'],'linuxParameters':{'capabilities':"
		 "{'add':['NET_BIND_SERVICE'],'drop':['ALL']}}");
	s = resolve_ok(td, 0, NULL, -1, NULL);
	assert_true(s->caps == BIT(CAP_NET_BIND_SERVICE));
	assert_true(s->no_new_privs);
	ctr_spec_free(s);
	task_def_free(td);

	/* add ALL: everything this kernel knows, still not privileged */
	td = one(",'command':['x'],'linuxParameters':{'capabilities':{'add':['ALL'],'drop':['MKNOD']}}");
	s = resolve_ok(td, 0, NULL, -1, NULL);
	assert_true(s->caps == (ctr_caps_all() & ~BIT(CAP_MKNOD)));
	assert_true(s->no_new_privs);
	ctr_spec_free(s);
	task_def_free(td);

	/* Fargate: SYS_PTRACE may be added */
	td = fg("{'name':'app','image':'i','command':['x'],'linuxParameters':{'capabilities':"
		"{'add':['SYS_PTRACE']}}}");
	s = resolve_ok(td, 0, NULL, -1, NULL);
	assert_true(s->caps == (ctr_caps_default() | BIT(CAP_SYS_PTRACE)));
	ctr_spec_free(s);
	task_def_free(td);
}

static void test_privileged(void **state)
{
	struct task_def *td = one(",'command':['x'],'privileged':true,"
				  "'linuxParameters':{'capabilities':{'drop':['ALL']}}");
	struct ctr_spec *s = resolve_ok(td, 0, NULL, -1, NULL);

	assert_true(s->privileged);
	assert_true(s->caps == ctr_caps_all());
	assert_true(s->caps & BIT(CAP_SYS_ADMIN));
	assert_false(s->no_new_privs);
	ctr_spec_free(s);
	task_def_free(td);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_argv_image_entrypoint_and_cmd),
		cmocka_unit_test(test_argv_command_replaces_cmd),
		cmocka_unit_test(test_argv_entrypoint_drops_image_cmd),
		cmocka_unit_test(test_argv_empty_entrypoint),
		cmocka_unit_test(test_argv_none),
		cmocka_unit_test(test_index_out_of_range),
		cmocka_unit_test(test_env_merge_order),
		cmocka_unit_test(test_env_default_path_and_hostname),
		cmocka_unit_test(test_env_extra_env),
		cmocka_unit_test(test_env_files),
		cmocka_unit_test(test_env_file_bad_line),
		cmocka_unit_test(test_env_file_s3_and_missing),
		cmocka_unit_test(test_user_default_root),
		cmocka_unit_test(test_user_name_and_uid),
		cmocka_unit_test(test_user_with_group),
		cmocka_unit_test(test_user_errors),
		cmocka_unit_test(test_user_no_passwd),
		cmocka_unit_test(test_user_symlink_stays_in_root),
		cmocka_unit_test(test_user_passwd_not_regular),
		cmocka_unit_test(test_user_definition_overrides_image),
		cmocka_unit_test(test_cwd),
		cmocka_unit_test(test_rlimits),
		cmocka_unit_test(test_rlimit_names),
		cmocka_unit_test(test_tmpfs_options),
		cmocka_unit_test(test_tmpfs_bad_options),
		cmocka_unit_test(test_tmpfs_ecs_options),
		cmocka_unit_test(test_tmpfs_size_option_index),
		cmocka_unit_test(test_mount_targets),
		cmocka_unit_test(test_volumes),
		cmocka_unit_test(test_etc_files_yield_to_mounts),
		cmocka_unit_test(test_volumes_from),
		cmocka_unit_test(test_devices_and_shm),
		cmocka_unit_test(test_signal_parse),
		cmocka_unit_test(test_stop_signal_and_timeout),
		cmocka_unit_test(test_quote_user_and_image_files),
		cmocka_unit_test(test_quote_image_config_and_paths),
		cmocka_unit_test(test_quote_env_files),
		cmocka_unit_test(test_caps_default),
		cmocka_unit_test(test_caps_add_drop),
		cmocka_unit_test(test_privileged),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
