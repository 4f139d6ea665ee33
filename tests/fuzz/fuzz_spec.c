/* fuzz_spec: runtime/container/spec.c's parsers of untrusted text, all
 * driven through ctr_spec_resolve: the image's /etc/passwd and /etc/group,
 * an environmentFiles file, the `user` string, tmpfs mountOptions, ulimit
 * names and the image's StopSignal.
 *
 * Input: one flags byte, then up to seven sections separated by "\n%%\n":
 *   passwd, group, env file, user, StopSignal, tmpfs mountOptions (one per
 *   line), ulimit names (one per line).
 * A missing section is absent (no /etc/passwd, no environmentFiles, no
 * user, ...); a present one may be empty. Flags: bit 0: the user is the
 * image config's User, not the definition's; bit 1: no rootfs (fd -1);
 * bit 2: the env file is listed twice; bit 3: the env file is given as a
 * relative path under ctr_resolve_opts.env_file_base.
 *
 * The passwd/group files live in a private rootfs under /tmp (made once per
 * process, rewritten every run); the definition is built with jansson and
 * parsed by task_def_parse (EC2 mode).
 * Invariants: no crash or leak; a definition this harness builds from
 * NUL-free UTF-8 text is accepted; ulimit names are valid for task.c exactly
 * when spec.c knows them; ctr_signal_parse agrees with a reference built on
 * glibc's signal names (sigabbrev_np, SIGRTMIN/SIGRTMAX); a resolve error names
 * the container and leaves *out NULL; a resolved spec has a usable uid/gid
 * with the gid first in the group list and no duplicate groups, env entries
 * "NAME=value" with unique names in which the definition, the extra env and
 * the env file's lines (the last line of a name winning) hold, the
 * StopSignal the image gave, and the tmpfs options in its mount data (only
 * options from ECS's documented list, never one that sets the size).
 * Every error message (task_def_parse's and ctr_spec_resolve's) and every
 * log line (captured through blog_set_sink) is shorter than MAX_MSG and
 * holds no control byte (< 0x20, 0x7f): untrusted text is quoted (JSON
 * syntax errors excepted, see LLVMFuzzerTestOneInput). */
#include "common/cleanup.h"
#include "common/error.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "rootfs/oci.h"
#include "runtime/container/spec.h"
#include "runtime/task/task.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SEP "\n%%\n"
#define N_PARTS 7
#define WHAT "fuzz task"
#define CTR_WHAT "containerDefinitions[0] (app): "
#define MAX_ID 4294967294ULL
/* Bound on one error message or log line. */
#define MAX_MSG 2048

enum { P_PASSWD, P_GROUP, P_ENV, P_USER, P_STOP, P_TMPFS, P_ULIMITS };

struct part {
	const char *p;          /* NULL: the section is missing */
	size_t n;
};

static char *g_dir;             /* /tmp/berth-fuzz-spec-XXXXXX */
static char *g_env_path;        /* <g_dir>/env */
static int g_rootfd = -1;       /* <g_dir>/root, O_DIRECTORY */
static int g_etcfd = -1;        /* <g_dir>/root/etc */

static void check(bool ok)
{
	if (!ok)
		abort();
}

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* A message or log line: bounded, one line, no terminal escapes. */
static void check_text(const char *what, const char *msg)
{
	size_t n = strlen(msg);

	if (n >= MAX_MSG) {
		fprintf(stderr, "fuzz_spec: %s of %zu bytes\n", what, n);
		abort();
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)msg[i];

		if (c < 0x20 || c == 0x7f) {
			fprintf(stderr, "fuzz_spec: %s has byte 0x%02x at %zu: %s\n", what, c, i,
				berr_q(msg));
			abort();
		}
	}
}

/* Log lines are checked, not printed (empty-value warnings would flood
 * the output). */
static void check_sink(enum blog_level level, const char *msg, void *data)
{
	(void)level;
	(void)data;
	check_text("log line", msg);
}

static void cleanup_dir(void)
{
	struct berr *err = NULL;

	if (g_etcfd >= 0)
		close(g_etcfd);
	if (g_rootfd >= 0)
		close(g_rootfd);
	if (g_dir && fs_rm_rf_at(AT_FDCWD, g_dir, &err) < 0) {
		fprintf(stderr, "fuzz_spec: %s\n", berr_msg(err));
		berr_free(err);
	}
	free(g_dir);
	free(g_env_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char tmpl[] = "/tmp/berth-fuzz-spec-XXXXXX";
	cleanup_free char *root = NULL, *etc = NULL;

	(void)argc;
	(void)argv;
	if (mkdtemp(tmpl) == NULL) {
		perror("fuzz_spec: mkdtemp");
		abort();
	}
	g_dir = xstrdup(tmpl);
	g_env_path = xasprintf("%s/env", g_dir);
	root = xasprintf("%s/root", g_dir);
	etc = xasprintf("%s/etc", root);
	if (mkdir(root, 0755) < 0 || mkdir(etc, 0755) < 0) {
		perror("fuzz_spec: mkdir");
		abort();
	}
	g_rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	g_etcfd = open(etc, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (g_rootfd < 0 || g_etcfd < 0) {
		perror("fuzz_spec: open");
		abort();
	}
	atexit(cleanup_dir);
	blog_set_sink(check_sink, NULL);
	return 0;
}

/* ------------------------------------------------------------ input */

static void split(const uint8_t *data, size_t size, struct part *parts)
{
	const char *p = (const char *)data, *end = p + size;
	size_t k = 0;

	memset(parts, 0, N_PARTS * sizeof(*parts));
	for (; k < N_PARTS; k++) {
		const char *s = k + 1 < N_PARTS ? memmem(p, (size_t)(end - p), SEP, strlen(SEP)) : NULL;

		parts[k].p = p;
		parts[k].n = s ? (size_t)(s - p) : (size_t)(end - p);
		if (s == NULL)
			break;
		p = s + strlen(SEP);
	}
}

static bool has_nul(const struct part *pt)
{
	return pt->p && memchr(pt->p, '\0', pt->n) != NULL;
}

/* (Re)write dirfd/name with the section, or remove it when missing. */
static void put_file(int dirfd, const char *name, const struct part *pt)
{
	int fd;

	if (pt->p == NULL) {
		if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
			abort();
		return;
	}
	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	check(fd >= 0);
	check(fs_write_all(fd, pt->p, pt->n) == 0);
	close(fd);
}

/* The lines of a section ("a\nb" -> "a", "b"; "" -> none), each xmalloc'd. */
static char **lines(const struct part *pt)
{
	char **v = xcalloc(1, sizeof(char *));
	size_t n = 0;
	const char *p = pt->p, *end = pt->p + pt->n;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *stop = nl ? nl : end;

		v = xreallocarray(v, n + 2, sizeof(char *));
		v[n++] = xstrndup(p, (size_t)(stop - p));
		v[n] = NULL;
		p = nl ? nl + 1 : end;
	}
	return v;
}

/* ---------------------------------------------------------- signals */

/* "n" with 1 <= n <= max, leading zeros allowed; else 0. */
static int small_number(const char *s, int max)
{
	long v = 0;

	if (*s == '\0')
		return 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return 0;
		v = v * 10 + (*s - '0');
		if (v > max)
			return 0;
	}
	return (int)v;
}

/* What spec.h promises, from glibc's own tables: a number 1-64; or a name
 * as sigabbrev_np(3) gives it (or one of its aliases IOT, CLD, POLL), any
 * case, with or without SIG; or RTMIN, RTMIN+n, RTMAX-n, RTMAX. */
static int ref_signal(const char *s)
{
	static const struct { const char *name; int sig; } aliases[] = {
		{ "IOT", SIGABRT }, { "CLD", SIGCHLD }, { "POLL", SIGIO },
	};
	int n;

	if ((n = small_number(s, 64)) > 0)
		return n;
	if (s[0] >= '0' && s[0] <= '9')
		return -1;
	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	for (int sig = 1; sig < SIGRTMIN; sig++) {
		const char *abbrev = sigabbrev_np(sig);

		if (abbrev && strcasecmp(s, abbrev) == 0)
			return sig;
	}
	for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
		if (strcasecmp(s, aliases[i].name) == 0)
			return aliases[i].sig;
	if (strcasecmp(s, "RTMIN") == 0)
		return SIGRTMIN;
	if (strcasecmp(s, "RTMAX") == 0)
		return SIGRTMAX;
	if (strncasecmp(s, "RTMIN+", 6) == 0 && (n = small_number(s + 6, SIGRTMAX - SIGRTMIN)))
		return SIGRTMIN + n;
	if (strncasecmp(s, "RTMAX-", 6) == 0 && (n = small_number(s + 6, SIGRTMAX - SIGRTMIN)))
		return SIGRTMAX - n;
	return -1;
}

static void fuzz_signal(const char *s)
{
	int r = ctr_signal_parse(s);

	check(r == ref_signal(s));
	check(r == -1 || (r >= 1 && r <= 64));
}

/* ------------------------------------------------------------ tmpfs */

/* ECS's documented valid values for tmpfs mountOptions (RegisterTask-
 * Definition, Tmpfs.mountOptions). The last six take a value. */
static const char *const ecs_tmpfs_options[] = {
	"defaults", "ro", "rw", "suid", "nosuid", "dev", "nodev", "exec", "noexec", "sync",
	"async", "dirsync", "remount", "mand", "nomand", "atime", "noatime", "diratime",
	"nodiratime", "bind", "rbind", "unbindable", "runbindable", "private", "rprivate",
	"shared", "rshared", "slave", "rslave", "relatime", "norelatime", "strictatime",
	"nostrictatime", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol", NULL,
};

#define ECS_TMPFS_VALUED 6

/* What a resolved tmpfs may have come from: one of ECS's names that takes
 * no value, or key=value (value not empty) with one of the last six as key;
 * never nr_blocks (it would override tmpfs.size; size= is not on the list)
 * and never a bind or remount (not a tmpfs mount). */
static bool tmpfs_option_ok(const char *opt)
{
	const char *eq = strchr(opt, '=');
	size_t n = eq ? (size_t)(eq - opt) : strlen(opt), first, last;

	if ((eq && eq[1] == '\0') || strchr(opt, ',') != NULL)
		return false;
	if (n == 9 && strncmp(opt, "nr_blocks", 9) == 0)
		return false;
	if (!eq && (!strcmp(opt, "bind") || !strcmp(opt, "rbind") || !strcmp(opt, "remount")))
		return false;
	for (last = 0; ecs_tmpfs_options[last]; last++)
		;
	first = eq ? last - ECS_TMPFS_VALUED : 0;
	if (!eq)
		last -= ECS_TMPFS_VALUED;
	for (size_t i = first; i < last; i++)
		if (strlen(ecs_tmpfs_options[i]) == n && strncmp(opt, ecs_tmpfs_options[i], n) == 0)
			return true;
	return false;
}

#define TMPFS_OPT_FIELD CTR_WHAT "linuxParameters.tmpfs[0].mountOptions["

/* An error about mountOptions[i] (its field starts the message): whether
 * tmpfs_option_ok refuses that option too. */
static bool tmpfs_error_justified(const struct part *pt, const char *msg)
{
	cleanup_strv char **opts = NULL;
	size_t i, n = 0;

	if (pt->p == NULL || sscanf(msg + strlen(CTR_WHAT),
				    "linuxParameters.tmpfs[0].mountOptions[%zu]", &i) != 1)
		return false;
	opts = lines(pt);
	while (opts[n])
		n++;
	return i < n && !tmpfs_option_ok(opts[i]);
}

/* ------------------------------------------------------- definition */

/* The task definition; NULL when a string is not valid UTF-8 (a definition
 * is JSON text, so such bytes cannot reach the resolver this way). */
static char *build_def(unsigned flags, const struct part *parts, const char *env_value)
{
	cleanup_json json_t *def = json_object();
	json_t *ct = json_object(), *cts = json_array(), *v;

	json_array_append_new(cts, ct);
	json_object_set_new(def, "family", json_string("fuzz"));
	json_object_set_new(def, "containerDefinitions", cts);
	json_object_set_new(ct, "name", json_string("app"));
	json_object_set_new(ct, "image", json_string("img"));
	json_object_set_new(ct, "memory", json_integer(128));
	json_object_set_new(ct, "essential", json_true());
	json_object_set_new(ct, "environment",
			    json_pack("[{s:s, s:s}]", "name", "FROM_DEF", "value", "def"));
	if (parts[P_USER].p && !(flags & 1)) {
		if ((v = json_stringn(parts[P_USER].p, parts[P_USER].n)) == NULL)
			return NULL;
		json_object_set_new(ct, "user", v);
	}
	if (parts[P_ENV].p) {
		json_t *files = json_array();

		json_object_set_new(ct, "environmentFiles", files);
		for (int i = 0; i < (flags & 4 ? 2 : 1); i++)
			json_array_append_new(files, json_pack("{s:s, s:s}", "value", env_value,
							       "type", "s3"));
	}
	if (parts[P_TMPFS].p) {
		cleanup_strv char **opts = lines(&parts[P_TMPFS]);
		json_t *o = json_array();

		json_object_set_new(ct, "linuxParameters",
				    json_pack("{s:[{s:s, s:i, s:o}]}", "tmpfs", "containerPath",
					      "/scratch", "size", 16, "mountOptions", o));
		for (size_t i = 0; opts[i]; i++) {
			if ((v = json_stringn(opts[i], strlen(opts[i]))) == NULL)
				return NULL;
			json_array_append_new(o, v);
		}
	}
	if (parts[P_ULIMITS].p) {
		cleanup_strv char **names = lines(&parts[P_ULIMITS]);
		json_t *u = json_array();

		json_object_set_new(ct, "ulimits", u);
		for (size_t i = 0; names[i]; i++) {
			bool valid = task_ulimit_name_valid(names[i]), dup = false;

			/* task.c's list of names and spec.c's must agree */
			check(valid == (ctr_rlimit_resource(names[i]) >= 0));
			for (size_t j = 0; j < i; j++)
				dup |= strcmp(names[j], names[i]) == 0;
			if (valid && !dup)
				json_array_append_new(u, json_pack("{s:s, s:i, s:i}", "name", names[i],
								   "softLimit", 1024, "hardLimit", 4096));
		}
	}
	return bjson_dumps(def);
}

/* ------------------------------------------------------- the checks */

static const char *env_get(char *const *env, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; env[i]; i++)
		if (strncmp(env[i], name, n) == 0 && env[i][n] == '=')
			return env[i] + n + 1;
	return NULL;
}

/* The env file's lines as ECS reads them, checked against the result:
 * the last line naming a variable wins, unless the definition or the extra
 * env sets it. */
static void check_env_file(const struct part *pt, char *const *env)
{
	cleanup_free char *buf = xstrndup(pt->p, pt->n);
	char *line = buf, *end = buf + pt->n;

	check(memchr(pt->p, '\0', pt->n) == NULL);  /* a NUL byte is an error */
	while (line < end) {
		char *nl = memchr(line, '\n', (size_t)(end - line));
		char *stop = nl ? nl : end, *eq, *p, *later;
		const char *got;
		bool overridden = false;

		if (stop > line && stop[-1] == '\r')
			stop--;
		*stop = '\0';
		for (p = line; *p == ' ' || *p == '\t'; p++)
			;
		eq = strchr(line, '=');
		if (*p == '\0' || *p == '#' || eq == NULL || eq[1] == '\0')
			goto next;
		check(eq > line);       /* else resolving must have failed */
		*eq = '\0';
		if (strcmp(line, "FROM_DEF") == 0 || strcmp(line, "AWS_REGION") == 0)
			goto next;
		/* a later line with the same name wins */
		for (later = nl ? nl + 1 : end; later < end && !overridden;) {
			char *ln = memchr(later, '\n', (size_t)(end - later));
			size_t l = strlen(line);

			overridden = strncmp(later, line, l) == 0 && later[l] == '=' &&
				     later[l + 1] != '\0' && later[l + 1] != '\n' &&
				     !(later[l + 1] == '\r' && (later[l + 2] == '\n' || later[l + 2] == '\0'));
			later = ln ? ln + 1 : end;
		}
		if (!overridden) {
			got = env_get(env, line);
			check(got != NULL && strcmp(got, eq + 1) == 0);
		}
next:
		line = nl ? nl + 1 : end;
	}
}

static void check_spec(const struct ctr_spec *s, const struct part *parts, const char *user,
		       const char *stop, bool rootfs)
{
	size_t n_env = 0;

	check(s->argv && s->argv[0]);
	check(strcmp(s->user, user ? user : "") == 0);
	/* ids */
	check(s->uid <= MAX_ID && s->gid <= MAX_ID);
	check(s->n_groups >= 1 && s->groups[0] == s->gid);
	for (size_t i = 0; i < s->n_groups; i++)
		for (size_t j = i + 1; j < s->n_groups; j++)
			check(s->groups[i] != s->groups[j]);
	if (user && (!rootfs || (parts[P_PASSWD].p == NULL && parts[P_GROUP].p == NULL))) {
		/* nothing to look up: numbers are taken as they are */
		unsigned long long u = 0, g = 0;
		int end = -1;

		if (sscanf(user, "%llu%n", &u, &end) == 1 && user[end] == '\0' &&
		    user[0] >= '0' && user[0] <= '9')
			check(s->uid == u && s->gid == 0 && s->n_groups == 1);
		else if (sscanf(user, "%llu:%llu%n", &u, &g, &end) == 2 && user[end] == '\0' &&
			 user[0] >= '0' && user[0] <= '9' && strchr(user, ':')[1] >= '0' &&
			 strchr(user, ':')[1] <= '9')
			check(s->uid == u && s->gid == g && s->n_groups == 1);
	}
	/* env: NAME=value, unique names; what the definition and opts set */
	for (; s->env[n_env]; n_env++) {
		const char *e = s->env[n_env], *eq = strchr(e, '=');

		check(eq != NULL && eq > e);
		for (size_t j = 0; j < n_env; j++)
			check(strncmp(s->env[j], e, (size_t)(eq - e) + 1) != 0);
	}
	check(env_get(s->env, "PATH") != NULL);
	check(strcmp(env_get(s->env, "FROM_DEF"), "def") == 0);
	check(strcmp(env_get(s->env, "AWS_REGION"), "us-east-1") == 0);
	if (parts[P_ENV].p)
		check_env_file(&parts[P_ENV], s->env);
	/* stop signal */
	check(s->stop_signal == (stop ? ctr_signal_parse(stop) : SIGTERM));
	check(s->stop_signal >= 1 && s->stop_signal <= 64);
	/* rlimits: nofile always there */
	{
		bool nofile = false;

		for (size_t i = 0; i < s->n_rlimits; i++)
			nofile |= s->rlimits[i].resource == RLIMIT_NOFILE;
		check(nofile);
	}
	/* tmpfs: every key=value option in the data, in order */
	if (parts[P_TMPFS].p) {
		cleanup_strv char **opts = lines(&parts[P_TMPFS]);
		cleanup_free char *want = xstrdup("size=16m");
		const struct ctr_mount *m = NULL;

		for (size_t i = 0; i < s->n_mounts; i++)
			if (s->mounts[i].kind == CTR_MOUNT_TMPFS)
				m = &s->mounts[i];
		check(m && strcmp(m->target, "/scratch") == 0);
		for (size_t i = 0; opts[i]; i++) {
			check(tmpfs_option_ok(opts[i]));
			if (strchr(opts[i], '=')) {
				char *w = xasprintf("%s,%s", want, opts[i]);

				free(want);
				want = w;
			}
		}
		check(m->data && strcmp(m->data, want) == 0);
	}
}

/* ------------------------------------------------------------- main */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct part parts[N_PARTS];
	struct oci_image_config img = { 0 };
	struct ctr_resolve_opts opts = { 0 };
	static const char *const extra_env[] = { "AWS_REGION=us-east-1", NULL };
	cleanup_free char *def = NULL, *user = NULL, *stop = NULL;
	struct task_def *td = NULL;
	struct ctr_spec *s = NULL;
	struct berr *err = NULL;
	bool clean_text;
	unsigned flags;
	int r;

	if (size == 0)
		return 0;
	flags = data[0];
	split(data + 1, size - 1, parts);
	put_file(g_etcfd, "passwd", &parts[P_PASSWD]);
	put_file(g_etcfd, "group", &parts[P_GROUP]);
	if (parts[P_ENV].p)
		put_file(AT_FDCWD, g_env_path, &parts[P_ENV]);

	if (parts[P_STOP].p) {
		stop = xstrndup(parts[P_STOP].p, parts[P_STOP].n);
		fuzz_signal(stop);
		if (*stop == '\0')      /* oci.h: "" is stored as NULL */
			free(steal_pointer(&stop));
	}

	def = build_def(flags, parts, flags & 8 ? "env" : g_env_path);
	if (def == NULL)
		return 0;
	/* the user string goes into the definition as it is (lines() cuts the
	 * tmpfs options at a NUL); jansson refuses "\u0000" */
	clean_text = (flags & 1) || !has_nul(&parts[P_USER]);
	r = task_def_parse(def, strlen(def), WHAT, TASK_MODE_EC2, &td, &err);
	if (r < 0) {
		check(err != NULL && td == NULL);
		check_text("task_def_parse error", berr_msg(err));
		check(has_prefix(berr_msg(err), WHAT ": ") ||
		      has_prefix(berr_msg(err), "parse " WHAT ": "));
		/* only a NUL in a string can make what we built invalid */
		if (clean_text) {
			fprintf(stderr, "fuzz_spec: definition refused: %s\n%s\n", berr_msg(err), def);
			abort();
		}
		berr_clear(&err);
		return 0;
	}

	img.cmd = xcalloc(2, sizeof(char *));
	img.cmd[0] = xstrdup("/bin/app");
	img.env = xcalloc(3, sizeof(char *));
	img.env[0] = xstrdup("PATH=/usr/bin:/bin");
	img.env[1] = xstrdup("FROM_DEF=image");
	if (parts[P_USER].p && (flags & 1)) {
		user = xstrndup(parts[P_USER].p, parts[P_USER].n);
		if (*user != '\0')
			img.user = xstrdup(user);
		else
			free(steal_pointer(&user));
	} else if (parts[P_USER].p) {
		user = xstrndup(parts[P_USER].p, parts[P_USER].n);
	}
	img.stop_signal = stop ? xstrdup(stop) : NULL;
	opts.extra_env = extra_env;
	opts.env_file_base = flags & 8 ? g_dir : NULL;

	r = ctr_spec_resolve(td, 0, &img, flags & 2 ? -1 : g_rootfd, &opts, &s, &err);
	if (r < 0) {
		check(err != NULL && s == NULL && has_prefix(berr_msg(err), CTR_WHAT));
		check_text("ctr_spec_resolve error", berr_msg(err));
		/* an option is refused only when it is not on ECS's list or sets the size */
		if (has_prefix(berr_msg(err), TMPFS_OPT_FIELD))
			check(tmpfs_error_justified(&parts[P_TMPFS], berr_msg(err)));
		berr_clear(&err);
	} else {
		check(err == NULL && s != NULL);
		check_spec(s, parts, user, stop, !(flags & 2));
		ctr_spec_free(s);
	}
	oci_config_free(&img);
	task_def_free(td);
	return 0;
}
