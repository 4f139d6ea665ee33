/* runtime/container/spec.c - resolve a container definition against its
 * image: argv, environment, user, mounts, limits, capabilities.
 *
 * Everything here runs in the parent, before any clone(): it reads the
 * environment files (host paths) and the image's /etc/passwd and /etc/group
 * (resolved inside the rootfs), and leaves a ctr_spec of plain data.
 *
 * Every value a message or log line shows that comes from the definition,
 * the image config or a file (env files, the image's /etc/passwd and
 * /etc/group) goes through berr_q/berr_qn: escaped and cut, so no terminal
 * escape or line break reaches a log. The container name in c->what is not
 * quoted: task.c allows only letters, digits, '-' and '_' in it. */
#include "runtime/container/spec.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "runtime/container/caps.h"

/* Largest uid/gid: (uid_t)-1 means "no change" to setresuid(2). */
#define MAX_ID 4294967294ULL
/* Limits on files read while resolving. */
#define MAX_ENV_FILE (4u << 20)
#define MAX_USER_FILE (16u << 20)
/* Fargate's (and the EC2 agent's awsvpc) nofile default. */
#define DEFAULT_NOFILE 65535
/* Linux real-time signals as Docker numbers them (glibc reserves 32, 33). */
#define SIG_RTMIN 34
#define SIG_RTMAX 64

struct rctx {
	const struct task_def *td;
	const struct task_container *ct;
	const struct ctr_resolve_opts *opts;
	char *what;                     /* "containerDefinitions[1] (web)" */
};

/* "<what>: <field>: <message>", with strerror(code) appended when code != 0. */
static int fail(const struct rctx *c, struct berr **err, int code, const char *field,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int fail(const struct rctx *c, struct berr **err, int code, const char *field,
		const char *fmt, ...)
{
	cleanup_free char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	return berr_set(err, code, "%s: %s: %s", c->what, field, msg);
}

static void spec_freep(struct ctr_spec **s)
{
	ctr_spec_free(*s);
}

static size_t strv_len(char *const *v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

static bool all_digits(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* ----------------------------------------------------------------- argv */

static void argv_append(char ***v, size_t *n, char *const *src)
{
	size_t k = strv_len(src);

	*v = xreallocarray(*v, *n + k + 1, sizeof(char *));
	for (size_t i = 0; i < k; i++)
		(*v)[(*n)++] = xstrdup(src[i]);
	(*v)[*n] = NULL;
}

/* Docker's merge (daemon/commit.go merge + getEntrypointAndArgs): a
 * non-empty entryPoint replaces the image's and drops its Cmd; otherwise an
 * empty command takes the image Cmd, and an absent entryPoint the image's. */
static int resolve_argv(const struct rctx *c, const struct oci_image_config *img,
			struct ctr_spec *s, struct berr **err)
{
	const struct task_container *ct = c->ct;
	char *const *ep, *const *cmd;
	size_t n = 0;

	if (strv_len(ct->entry_point) > 0) {
		ep = ct->entry_point;
		cmd = ct->command;
	} else {
		cmd = strv_len(ct->command) > 0 ? ct->command : (img ? img->cmd : NULL);
		ep = ct->entry_point ? NULL : (img ? img->entrypoint : NULL);
	}
	s->argv = xcalloc(1, sizeof(char *));
	argv_append(&s->argv, &n, ep);
	argv_append(&s->argv, &n, cmd);
	if (n == 0)
		return berr_set(err, 0, "%s: no command: the image has no Entrypoint or Cmd and the "
				"definition gives neither entryPoint nor command", c->what);
	return 0;
}

/* ------------------------------------------------------------------ env */

struct env_ent {
	char *name, *value;
	long file;                      /* index of the env file that set it, or -1 */
};

struct env {
	struct env_ent *e;
	size_t n, cap;
};

static void env_free(struct env *v)
{
	for (size_t i = 0; i < v->n; i++) {
		free(v->e[i].name);
		free(v->e[i].value);
	}
	free(v->e);
	v->e = NULL;
	v->n = v->cap = 0;
}

static long env_find(const struct env *v, const char *name, size_t len)
{
	for (size_t i = 0; i < v->n; i++)
		if (strlen(v->e[i].name) == len && memcmp(v->e[i].name, name, len) == 0)
			return (long)i;
	return -1;
}

/* Set name (len bytes) to value: replace in place (keeping the position) or
 * append. */
static void env_set(struct env *v, const char *name, size_t len, const char *value, long file)
{
	long i = env_find(v, name, len);

	if (i >= 0) {
		free(v->e[i].value);
		v->e[i].value = xstrdup(value);
		v->e[i].file = file;
		return;
	}
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 16;
		v->e = xreallocarray(v->e, v->cap, sizeof(*v->e));
	}
	v->e[v->n++] = (struct env_ent){ xstrndup(name, len), xstrdup(value), file };
}

static void env_unset(struct env *v, const char *name)
{
	long i = env_find(v, name, strlen(name));

	if (i < 0)
		return;
	free(v->e[i].name);
	free(v->e[i].value);
	memmove(&v->e[i], &v->e[i + 1], (v->n - (size_t)i - 1) * sizeof(*v->e));
	v->n--;
}

/* "NAME=value"; a bare "NAME" unsets NAME, as Docker's
 * ReplaceOrAppendEnvValues does. */
static void env_put(struct env *v, const char *kv)
{
	const char *eq = strchr(kv, '=');

	if (!eq)
		env_unset(v, kv);
	else if (eq > kv)
		env_set(v, kv, (size_t)(eq - kv), eq + 1, -1);
}

/* Where environmentFiles[k] is on this host. */
static int env_file_path(const struct rctx *c, size_t k, const char *value, char **out,
			 struct berr **err)
{
	cleanup_free char *field = xasprintf("environmentFiles[%zu]", k);
	const char *base = c->opts ? c->opts->env_file_base : NULL;
	const char *p = value;

	if (strncmp(value, "s3://", 5) == 0 ||
	    (strncmp(value, "arn:", 4) == 0 && strstr(value, ":s3:::") != NULL))
		return fail(c, err, 0, field, "not supported yet: environmentFiles from S3 "
			    "(\"%s\"); give a path on this host", berr_q(value));
	if (strncmp(value, "arn:", 4) == 0)
		return fail(c, err, 0, field, "\"%s\" is neither an S3 object ARN nor a path",
			    berr_q(value));
	if (strncmp(value, "file://", 7) == 0)
		p += 7;
	if (*p == '\0')
		return fail(c, err, 0, field, "\"%s\" names no file", berr_q(value));
	if (p[0] == '/' || base == NULL)
		*out = xstrdup(p);
	else
		*out = fs_path_join(base, p);
	return 0;
}

/* Parse one env file the way the ECS agent reads them (envFiles/envfile.go):
 * NAME=VALUE per line, verbatim (no quotes, no trimming of the value); lines
 * starting with '#' and blank lines are skipped; within one file a later
 * line wins. Unlike the agent, a line without '=' is an error, not skipped. */
static int env_file_parse(const struct rctx *c, size_t k, const char *path, char *buf,
			  size_t len, struct env *out, struct berr **err)
{
	cleanup_free char *field = xasprintf("environmentFiles[%zu]", k);
	size_t lineno = 0;
	char *line = buf, *end = buf + len;

	if (memchr(buf, '\0', len) != NULL)
		return fail(c, err, 0, field, "%s: holds a NUL byte (not a text file)", berr_q(path));
	while (line < end) {
		char *nl = memchr(line, '\n', (size_t)(end - line));
		char *stop = nl ? nl : end, *eq, *p;

		lineno++;
		if (stop > line && stop[-1] == '\r')
			stop--;
		*stop = '\0';
		for (p = line; *p == ' ' || *p == '\t'; p++)
			;
		if (*p == '\0' || *p == '#')
			goto next;
		eq = strchr(line, '=');
		if (eq == NULL)
			return fail(c, err, 0, field, "%s line %zu: expected NAME=VALUE", berr_q(path),
				    lineno);
		if (eq == line)
			return fail(c, err, 0, field, "%s line %zu: the name before '=' is empty",
				    berr_q(path), lineno);
		for (p = line; p < eq; p++)
			if (isspace((unsigned char)*p))
				return fail(c, err, 0, field, "%s line %zu: the name \"%s\" holds "
					    "white space", berr_q(path), lineno,
					    berr_qn(line, (size_t)(eq - line)));
		if (eq[1] == '\0') {
			/* the ECS agent skips these: the variable is not set at all */
			log_warn("%s: %s: %s line %zu: %s has an empty value and is not set "
				 "(as ECS does)", c->what, field, berr_q(path), lineno,
				 berr_qn(line, (size_t)(eq - line)));
			goto next;
		}
		env_set(out, line, (size_t)(eq - line), eq + 1, (long)k);
next:
		line = nl ? nl + 1 : end;
	}
	return 0;
}

/* fs_read_file, with the error rebuilt: its message would show the path
 * (which the definition chose) unquoted. */
static int env_file_read(const struct rctx *c, size_t k, const char *path, char **buf,
			 size_t *len, struct berr **err)
{
	cleanup_free char *field = xasprintf("environmentFiles[%zu]", k);
	cleanup_close int fd = -1;
	struct berr *e = NULL;
	int code;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return fail(c, err, errno, field, "open %s", berr_q(path));
	if (fs_read_all(fd, buf, len, MAX_ENV_FILE, &e) == 0)
		return 0;
	code = e ? e->code : EIO;
	berr_free(e);
	if (code == EFBIG)
		return fail(c, err, EFBIG, field, "read %s: more than %u bytes", berr_q(path),
			    MAX_ENV_FILE);
	return fail(c, err, code, field, "read %s", berr_q(path));
}

static int env_add_files(const struct rctx *c, struct env *env, struct berr **err)
{
	const struct task_container *ct = c->ct;

	for (size_t k = 0; k < ct->n_environment_files; k++) {
		cleanup_free char *path = NULL, *buf = NULL;
		struct env file = { 0 };
		size_t len = 0;
		int r;

		r = env_file_path(c, k, ct->environment_files[k].value, &path, err);
		if (r < 0)
			return r;
		r = env_file_read(c, k, path, &buf, &len, err);
		if (r < 0)
			return r;
		r = env_file_parse(c, k, path, buf, len, &file, err);
		/* the agent: the first file that names a variable wins */
		for (size_t i = 0; r == 0 && i < file.n; i++) {
			const struct env_ent *f = &file.e[i];
			long j = env_find(env, f->name, strlen(f->name));

			if (j >= 0 && env->e[j].file >= 0)
				continue;
			env_set(env, f->name, strlen(f->name), f->value, (long)k);
		}
		env_free(&file);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Docker's CreateDaemonEnvironment: PATH (when nobody sets it) and HOSTNAME
 * first, then the image's Env, then the container's; a later value
 * replaces an earlier one in its place. ECS puts the environmentFiles
 * between the image and the definition, the first file naming a variable
 * winning over later files, the definition winning over all files. */
static int resolve_env(const struct rctx *c, const struct oci_image_config *img,
		       struct ctr_spec *s, struct berr **err)
{
	const struct task_container *ct = c->ct;
	struct env env = { 0 };
	size_t n = 0;
	int r;

	if (s->hostname)
		env_set(&env, "HOSTNAME", 8, s->hostname, -1);
	for (size_t i = 0; img && img->env && img->env[i]; i++)
		env_put(&env, img->env[i]);
	r = env_add_files(c, &env, err);
	if (r < 0) {
		env_free(&env);
		return r;
	}
	for (size_t i = 0; c->opts && c->opts->extra_env && c->opts->extra_env[i]; i++)
		env_put(&env, c->opts->extra_env[i]);
	for (size_t i = 0; i < ct->n_environment; i++)
		env_set(&env, ct->environment[i].name, strlen(ct->environment[i].name),
			ct->environment[i].value, -1);

	s->env = xcalloc(env.n + 2, sizeof(char *));
	if (env_find(&env, "PATH", 4) < 0)
		s->env[n++] = xstrdup("PATH=" CTR_DEFAULT_PATH);
	for (size_t i = 0; i < env.n; i++)
		s->env[n++] = xasprintf("%s=%s", env.e[i].name, env.e[i].value);
	env_free(&env);
	return 0;
}

/* ----------------------------------------------------------------- user */

/* A user database file of the image, read inside the rootfs. *out is NULL
 * when the file (or /etc) does not exist. */
static int read_root_file(const struct rctx *c, int rootfs_fd, const char *path, char **out,
			  struct berr **err)
{
	cleanup_close int pfd = -1, fd = -1;
	struct berr *e = NULL;
	struct stat st;
	char proc[64];

	*out = NULL;
	if (rootfs_fd < 0)
		return 0;
	/* O_PATH first: a device node or fifo planted at /etc/passwd is never opened */
	pfd = fs_open_in_root(rootfs_fd, path, O_PATH, 0, 0, &e);
	if (pfd < 0) {
		int code = -pfd;

		if (code == ENOENT || code == ENOTDIR) {
			berr_free(e);
			return 0;
		}
		berr_free(e);
		return fail(c, err, code, "user", "open %s in the image", path);
	}
	if (fstat(pfd, &st) < 0)
		return fail(c, err, errno, "user", "stat %s in the image", path);
	if (!S_ISREG(st.st_mode))
		return fail(c, err, 0, "user", "%s in the image is not a regular file", path);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
	fd = open(proc, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return fail(c, err, errno, "user", "open %s in the image", path);
	if (fs_read_all(fd, out, NULL, MAX_USER_FILE, &e) < 0) {
		int code = e ? e->code : EIO;

		berr_free(e);
		return fail(c, err, code, "user", "read %s in the image", path);
	}
	return 0;
}

/* Split a passwd/group line into at most `max` ':'-separated fields (in
 * place); returns how many there are. */
static size_t split_fields(char *line, char **f, size_t max)
{
	size_t n = 0;

	f[n++] = line;
	for (char *p = line; *p && n < max; p++) {
		if (*p == ':') {
			*p = '\0';
			f[n++] = p + 1;
		}
	}
	return n;
}

/* A numeric id field; false when it is not all digits. */
static bool parse_id_field(const char *s, unsigned long long *out)
{
	char *end;

	if (!all_digits(s))
		return false;
	errno = 0;
	*out = strtoull(s, &end, 10);
	if (errno == ERANGE)
		*out = ULLONG_MAX;
	return true;
}

/* The next line of a NUL-terminated buffer, as a copy (the buffer is left
 * as it is, so it can be scanned again); NULL at the end. */
static char *next_line(const char **cursor)
{
	const char *line = *cursor, *nl;

	if (*line == '\0')
		return NULL;
	nl = strchrnul(line, '\n');
	*cursor = *nl ? nl + 1 : nl;
	return xstrndup(line, (size_t)(nl - line));
}

struct id_arg {
	const char *name;               /* as written; "" for none */
	bool numeric;
	unsigned long long id;
};

static int parse_id_arg(const struct rctx *c, const char *s, const char *kind,
			struct id_arg *a, struct berr **err)
{
	a->name = s;
	a->numeric = parse_id_field(s, &a->id);
	if (a->numeric && a->id > MAX_ID)
		return fail(c, err, 0, "user", "%s %s is out of range (0-%llu)", kind, berr_q(s),
			    MAX_ID);
	return 0;
}

struct pw_match {
	bool found;
	char *name;
	unsigned long long uid, gid;
};

/* First passwd entry whose name is u->name or, for a numeric u, whose uid
 * is u->id; u->name "" matches uid 0 (Docker's default user). */
static void passwd_find(const char *buf, const struct id_arg *u, struct pw_match *m)
{
	const char *cur = buf;

	for (;;) {
		cleanup_free char *line = next_line(&cur);
		char *f[7];
		unsigned long long uid, gid;
		bool hit;

		if (line == NULL)
			break;
		if (line[0] == '#' || split_fields(line, f, 7) < 4)
			continue;
		if (!parse_id_field(f[2], &uid) || !parse_id_field(f[3], &gid))
			continue;
		if (u->name[0] == '\0')
			hit = uid == 0;
		else
			hit = strcmp(f[0], u->name) == 0 || (u->numeric && uid == u->id);
		if (hit) {
			m->found = true;
			m->name = xstrdup(f[0]);
			m->uid = uid;
			m->gid = gid;
			return;
		}
	}
}

static bool member_of(char *list, const char *user)
{
	char *save = NULL;

	for (char *m = strtok_r(list, ",", &save); m; m = strtok_r(NULL, ",", &save)) {
		while (*m == ' ' || *m == '\t')
			m++;
		size_t l = strlen(m);
		while (l > 0 && isspace((unsigned char)m[l - 1]))
			l--;
		if (l == strlen(user) && strncmp(m, user, l) == 0)
			return true;
	}
	return false;
}

static void add_gid(struct ctr_spec *s, gid_t g)
{
	for (size_t i = 0; i < s->n_groups; i++)
		if (s->groups[i] == g)
			return;
	s->groups = xreallocarray(s->groups, s->n_groups + 1, sizeof(gid_t));
	s->groups[s->n_groups++] = g;
}

/* Scan /etc/group. With an explicit group g: the first entry named g (or,
 * numeric, with that gid) -> *gid_out, *found. Without (g NULL): every
 * group whose member list names `user` is added to s->groups. */
static int group_scan(const struct rctx *c, const char *buf, const struct id_arg *g,
		      const char *user, struct ctr_spec *s, bool *found,
		      unsigned long long *gid_out, struct berr **err)
{
	const char *cur = buf;

	for (;;) {
		cleanup_free char *line = next_line(&cur);
		char *f[4];
		unsigned long long gid;
		size_t n;

		if (line == NULL)
			break;
		if (line[0] == '#' || (n = split_fields(line, f, 4)) < 3)
			continue;
		if (!parse_id_field(f[2], &gid))
			continue;
		if (g) {
			if (strcmp(f[0], g->name) == 0 || (g->numeric && gid == g->id)) {
				*found = true;
				*gid_out = gid;
				return 0;
			}
			continue;
		}
		if (user && n == 4 && member_of(f[3], user)) {
			if (gid > MAX_ID)
				return fail(c, err, 0, "user", "group %s in the image's /etc/group has "
					    "gid %llu, out of range", berr_q(f[0]), gid);
			add_gid(s, (gid_t)gid);
		}
	}
	return 0;
}

/* moby/sys/user GetExecUser, as Docker's daemon uses it (getUser in
 * daemon/oci_linux.go):
 *   - "user" or "uid" is looked up in passwd (first match; a number matches
 *     a name or a uid); a number not there is used as is with gid 0, a name
 *     not there is an error; "" is uid 0;
 *   - an explicit ":group" sets the gid (a number not in /etc/group is used
 *     as is) and then no supplementary groups are read, as Docker does;
 *     without one the gid is passwd's and the supplementary groups are the
 *     groups listing the user's name;
 *   - the primary gid is always the first entry of the group list (Docker
 *     since CVE-2022-36109), so dropping it with setgid cannot escape a
 *     group's restrictions. */
static int resolve_user(const struct rctx *c, const struct oci_image_config *img,
			int rootfs_fd, struct ctr_spec *s, struct berr **err)
{
	const char *spec = c->ct->user ? c->ct->user : (img && img->user ? img->user : "");
	cleanup_free char *ubuf = xstrdup(spec), *passwd = NULL, *group = NULL;
	struct id_arg u, g;
	struct pw_match m = { 0 };
	char *colon;
	bool have_group = false;
	unsigned long long uid = 0, gid = 0;
	int r;

	s->user = xstrdup(spec);
	colon = strchr(ubuf, ':');
	if (colon) {
		*colon = '\0';
		if (strchr(colon + 1, ':'))
			return fail(c, err, 0, "user", "\"%s\" is not user, uid, user:group or uid:gid",
				    berr_q(spec));
		have_group = colon[1] != '\0';
	}
	if ((r = parse_id_arg(c, ubuf, "uid", &u, err)) < 0)
		return r;
	if (have_group && (r = parse_id_arg(c, colon + 1, "gid", &g, err)) < 0)
		return r;

	if ((r = read_root_file(c, rootfs_fd, "/etc/passwd", &passwd, err)) < 0)
		return r;
	if (passwd)
		passwd_find(passwd, &u, &m);
	if (m.found) {
		uid = m.uid;
		gid = m.gid;
		if (uid > MAX_ID || gid > MAX_ID) {
			r = fail(c, err, 0, "user", "the image's /etc/passwd gives %s uid %llu gid %llu, "
				 "out of range (0-%llu)", berr_q(m.name), uid, gid, MAX_ID);
			goto out;
		}
	} else if (u.numeric) {
		uid = u.id;
	} else if (u.name[0] != '\0') {
		r = fail(c, err, 0, "user", "no user \"%s\" in the image's /etc/passwd%s",
			 berr_q(u.name), passwd ? "" : " (the image has no /etc/passwd)");
		goto out;
	}

	if (have_group || m.found) {
		if ((r = read_root_file(c, rootfs_fd, "/etc/group", &group, err)) < 0)
			goto out;
	}
	if (have_group) {
		bool found = false;
		unsigned long long ggid = 0;

		if (group && (r = group_scan(c, group, &g, NULL, s, &found, &ggid, err)) < 0)
			goto out;
		if (found) {
			if (ggid > MAX_ID) {
				r = fail(c, err, 0, "user", "group %s in the image's /etc/group has gid "
					 "%llu, out of range", berr_q(g.name), ggid);
				goto out;
			}
			gid = ggid;
		} else if (g.numeric) {
			gid = g.id;
		} else {
			r = fail(c, err, 0, "user", "no group \"%s\" in the image's /etc/group%s",
				 berr_q(g.name), group ? "" : " (the image has no /etc/group)");
			goto out;
		}
	}
	s->uid = (uid_t)uid;
	s->gid = (gid_t)gid;
	add_gid(s, s->gid);
	if (!have_group && m.found && group &&
	    (r = group_scan(c, group, NULL, m.name, s, NULL, NULL, err)) < 0)
		goto out;
	r = 0;
out:
	free(m.name);
	return r;
}

/* --------------------------------------------------------------- mounts */

/* A mount target or device path: absolute, cleaned, not "/" itself. */
static int clean_target(const struct rctx *c, const char *field, const char *path, char **out,
			struct berr **err)
{
	cleanup_free char *p = NULL;

	if (path[0] != '/')
		return fail(c, err, 0, field, "\"%s\" is not an absolute path", berr_q(path));
	/* cleaning an absolute path resolves every ".." lexically ("/a/../.."
	 * is "/"), so what is left cannot climb; the launcher still resolves it
	 * inside the rootfs */
	p = fs_path_clean(path);
	if (strcmp(p, "/") == 0)
		return fail(c, err, 0, field, "\"%s\" names the root directory", berr_q(path));
	*out = steal_pointer(&p);
	return 0;
}

static struct ctr_mount *mount_add(struct ctr_spec *s)
{
	struct ctr_mount *m;

	s->mounts = xreallocarray(s->mounts, s->n_mounts + 1, sizeof(*s->mounts));
	m = &s->mounts[s->n_mounts++];
	memset(m, 0, sizeof(*m));
	return m;
}

static long mount_find(const struct ctr_spec *s, const char *target)
{
	for (size_t i = 0; i < s->n_mounts; i++)
		if (strcmp(s->mounts[i].target, target) == 0)
			return (long)i;
	return -1;
}

struct tmpfs_flag {
	const char *name;
	unsigned long set, clear;
};

/* Flag options of mount(8) that ECS accepts for tmpfs. The propagation
 * ones are accepted and have no effect: the container's mounts are private. */
static const struct tmpfs_flag tmpfs_flags[] = {
	{ "defaults", 0, 0 },
	{ "suid", 0, MS_NOSUID },         { "nosuid", MS_NOSUID, 0 },
	{ "dev", 0, MS_NODEV },           { "nodev", MS_NODEV, 0 },
	{ "exec", 0, MS_NOEXEC },         { "noexec", MS_NOEXEC, 0 },
	{ "sync", MS_SYNCHRONOUS, 0 },    { "async", 0, MS_SYNCHRONOUS },
	{ "dirsync", MS_DIRSYNC, 0 },
	{ "mand", MS_MANDLOCK, 0 },       { "nomand", 0, MS_MANDLOCK },
	{ "atime", 0, MS_NOATIME },       { "noatime", MS_NOATIME, 0 },
	{ "diratime", 0, MS_NODIRATIME }, { "nodiratime", MS_NODIRATIME, 0 },
	{ "relatime", MS_RELATIME, 0 },   { "norelatime", 0, MS_RELATIME },
	{ "strictatime", MS_STRICTATIME, 0 }, { "nostrictatime", 0, MS_STRICTATIME },
	{ "private", 0, 0 },    { "rprivate", 0, 0 },
	{ "shared", 0, 0 },     { "rshared", 0, 0 },
	{ "slave", 0, 0 },      { "rslave", 0, 0 },
	{ "unbindable", 0, 0 }, { "runbindable", 0, 0 },
};

/* tmpfs(5) options that take a value and that ECS lists for mountOptions;
 * they go into the mount data after size=. */
static const char *const tmpfs_data_keys[] = {
	"mode", "uid", "gid", "nr_inodes", "mpol", NULL,
};

/* Options that set the size of the tmpfs. The kernel takes the last one it
 * sees, so one in mountOptions would silently replace tmpfs[i].size, the
 * size the definition asks for. nr_blocks is on ECS's list of valid values,
 * but accepting it leaves two bad choices (it wins over tmpfs[i].size, or
 * size= goes last and it is silently ignored), so it is refused like size=,
 * with an error that says where the size comes from. */
static const char *const tmpfs_size_keys[] = { "size", "nr_blocks", NULL };

/* Options tmpfs has and ECS does not take in mountOptions. */
static const char *const tmpfs_refused_keys[] = { "huge", NULL };

/* Whether "key=value" has one of keys as its key. */
static bool opt_key_in(const char *opt, const char *eq, const char *const *keys)
{
	size_t n = (size_t)(eq - opt);

	for (; *keys; keys++)
		if (strlen(*keys) == n && strncmp(opt, *keys, n) == 0)
			return true;
	return false;
}

/* Docker mounts a tmpfs with noexec,nosuid,nodev and then the options in
 * order (MergeTmpfsOptions: a later option undoes an earlier one). */
static int resolve_tmpfs(const struct rctx *c, struct ctr_spec *s, struct berr **err)
{
	const struct task_linux_params *lp = &c->ct->linux_parameters;

	for (size_t k = 0; k < lp->n_tmpfs; k++) {
		const struct task_tmpfs *t = &lp->tmpfs[k];
		cleanup_free char *field = xasprintf("linuxParameters.tmpfs[%zu]", k);
		cleanup_free char *cfield = xasprintf("%s.containerPath", field);
		cleanup_free char *target = NULL, *data = NULL;
		unsigned long flags = MS_NOEXEC | MS_NOSUID | MS_NODEV;
		bool ro = false;
		struct ctr_mount *m;
		int r;

		if ((r = clean_target(c, cfield, t->container_path, &target, err)) < 0)
			return r;
		if (mount_find(s, target) >= 0)
			return fail(c, err, 0, cfield, "%s is already a mount target", berr_q(target));
		data = xasprintf("size=%lldm", (long long)t->size);
		for (size_t o = 0; t->mount_options[o]; o++) {
			cleanup_free char *ofield = xasprintf("%s.mountOptions[%zu]", field, o);
			const char *opt = t->mount_options[o];
			const char *eq = strchr(opt, '=');
			bool known = false;

			if (strchr(opt, ',') != NULL)
				return fail(c, err, 0, ofield, "\"%s\": give one option per entry",
					    berr_q(opt));
			if (eq) {
				if (opt_key_in(opt, eq, tmpfs_size_keys))
					return fail(c, err, 0, ofield, "\"%s\" is not allowed: the size "
						    "comes from tmpfs[%zu].size", berr_q(opt), k);
				if (opt_key_in(opt, eq, tmpfs_refused_keys))
					return fail(c, err, 0, ofield, "\"%s\" is not allowed: ECS does not "
						    "take it in mountOptions", berr_q(opt));
				if (!opt_key_in(opt, eq, tmpfs_data_keys) || eq[1] == '\0')
					return fail(c, err, 0, ofield, "\"%s\" is not a tmpfs option",
						    berr_q(opt));
				char *nd = xasprintf("%s,%s", data, opt);
				free(data);
				data = nd;
				continue;
			}
			if (!strcmp(opt, "ro") || !strcmp(opt, "rw")) {
				ro = opt[1] == 'o';
				continue;
			}
			for (size_t i = 0; i < sizeof(tmpfs_flags) / sizeof(tmpfs_flags[0]); i++) {
				if (strcmp(opt, tmpfs_flags[i].name) == 0) {
					flags = (flags & ~tmpfs_flags[i].clear) | tmpfs_flags[i].set;
					known = true;
					break;
				}
			}
			if (!known)
				return fail(c, err, 0, ofield, "\"%s\" is not supported for a tmpfs",
					    berr_q(opt));
		}
		m = mount_add(s);
		m->kind = CTR_MOUNT_TMPFS;
		m->target = steal_pointer(&target);
		m->read_only = ro;
		m->flags = flags;
		m->data = steal_pointer(&data);
	}
	return 0;
}

static const struct task_volume *find_volume(const struct task_def *td, const char *name)
{
	for (size_t v = 0; v < td->n_volumes; v++)
		if (strcmp(td->volumes[v].name, name) == 0)
			return &td->volumes[v];
	return NULL;
}

static long find_container(const struct task_def *td, const char *name)
{
	for (size_t i = 0; i < td->n_containers; i++)
		if (strcmp(td->containers[i].name, name) == 0)
			return (long)i;
	return -1;
}

/* The host side of a mount point: the volume's host.sourcePath, or its
 * directory under volumes_dir for a task-scoped volume. */
static int volume_source(const struct rctx *c, const char *field, const char *vname,
			 char **out, bool *is_file, struct berr **err)
{
	const struct task_volume *v = find_volume(c->td, vname);
	const char *dir = c->opts ? c->opts->volumes_dir : NULL;
	struct stat st;

	if (v == NULL)
		return fail(c, err, 0, field, "\"%s\" is not a volume of the task", berr_q(vname));
	if (v->host_source_path) {
		*out = fs_path_clean(v->host_source_path);
	} else {
		if (dir == NULL)
			return fail(c, err, EINVAL, field, "volume \"%s\" is task-scoped but no volume "
				    "directory was given", berr_q(vname));
		*out = xasprintf("%s/%s", dir, vname);
	}
	/* a host file is bound onto a file; anything missing is a directory */
	*is_file = stat(*out, &st) == 0 && !S_ISDIR(st.st_mode);
	return 0;
}

/* One mount point of container `from` (c->ct itself, or a volumesFrom
 * source) added as a bind mount. *dup says the target was taken. */
static int add_mount_point(const struct rctx *c, const char *field,
			   const struct task_mount_point *mp, bool force_ro, struct ctr_spec *s,
			   bool *dup, struct berr **err)
{
	cleanup_free char *tfield = xasprintf("%s.containerPath", field);
	cleanup_free char *target = NULL, *source = NULL;
	bool is_file = false;
	struct ctr_mount *m;
	int r;

	if ((r = clean_target(c, tfield, mp->container_path, &target, err)) < 0)
		return r;
	*dup = mount_find(s, target) >= 0;
	if (*dup)
		return 0;
	if ((r = volume_source(c, field, mp->source_volume, &source, &is_file, err)) < 0)
		return r;
	m = mount_add(s);
	m->kind = CTR_MOUNT_BIND;
	m->source = steal_pointer(&source);
	m->target = steal_pointer(&target);
	m->read_only = mp->read_only || force_ro;
	m->create_file = is_file;
	return 0;
}

/* Docker's volumes-from: every mount point of the source container,
 * including what it has from its own volumesFrom; read-only when the
 * reference (or one on the way) says so. A target the container already
 * mounts itself stays its own. */
static int add_volumes_from(const struct rctx *c, size_t from, bool ro, unsigned char *seen,
			    const char *field, struct ctr_spec *s, struct berr **err)
{
	const struct task_container *src = &c->td->containers[from];
	int r;

	seen[from] = 1;
	for (size_t k = 0; k < src->n_mount_points; k++) {
		cleanup_free char *f = xasprintf("%s: container %s mountPoints[%zu]", field,
						 src->name, k);
		bool dup;

		if ((r = add_mount_point(c, f, &src->mount_points[k], ro, s, &dup, err)) < 0)
			return r;
	}
	for (size_t k = 0; k < src->n_volumes_from; k++) {
		const struct task_volume_from *vf = &src->volumes_from[k];
		long j = find_container(c->td, vf->source_container);

		if (j < 0 || seen[j])
			continue;
		if ((r = add_volumes_from(c, (size_t)j, ro || vf->read_only, seen, field, s, err)) < 0)
			return r;
	}
	return 0;
}

static int resolve_mounts(const struct rctx *c, size_t idx, struct ctr_spec *s,
			  struct berr **err)
{
	const struct task_container *ct = c->ct;
	const struct ctr_resolve_opts *o = c->opts;
	int r;

	if ((r = resolve_tmpfs(c, s, err)) < 0)
		return r;
	for (size_t k = 0; k < ct->n_mount_points; k++) {
		cleanup_free char *field = xasprintf("mountPoints[%zu]", k);
		bool dup;

		if ((r = add_mount_point(c, field, &ct->mount_points[k], false, s, &dup, err)) < 0)
			return r;
		if (dup)
			return fail(c, err, 0, field, "containerPath %s is already a mount target",
				    berr_q(ct->mount_points[k].container_path));
	}
	for (size_t k = 0; k < ct->n_volumes_from; k++) {
		const struct task_volume_from *vf = &ct->volumes_from[k];
		cleanup_free char *field = xasprintf("volumesFrom[%zu]", k);
		cleanup_free unsigned char *seen = xcalloc(c->td->n_containers, 1);
		long j = find_container(c->td, vf->source_container);

		if (j < 0)
			return fail(c, err, 0, field, "\"%s\" is not a container of the task",
				    berr_q(vf->source_container));
		seen[idx] = 1;
		if ((r = add_volumes_from(c, (size_t)j, vf->read_only, seen, field, s, err)) < 0)
			return r;
	}
	if (o) {
		const char *files[3][2] = {
			{ o->hosts_file, "/etc/hosts" },
			{ o->resolv_file, "/etc/resolv.conf" },
			{ o->hostname_file, "/etc/hostname" },
		};

		for (size_t i = 0; i < 3; i++) {
			struct ctr_mount *m;

			/* as Docker: a mount the definition asks for wins */
			if (files[i][0] == NULL || mount_find(s, files[i][1]) >= 0)
				continue;
			m = mount_add(s);
			m->kind = CTR_MOUNT_BIND;
			m->source = xstrdup(files[i][0]);
			m->target = xstrdup(files[i][1]);
			m->read_only = false;
			m->create_file = true;
		}
	}
	return 0;
}

static int resolve_devices(const struct rctx *c, struct ctr_spec *s, struct berr **err)
{
	const struct task_linux_params *lp = &c->ct->linux_parameters;

	if (lp->n_devices == 0)
		return 0;
	s->devices = xcalloc(lp->n_devices, sizeof(*s->devices));
	for (size_t k = 0; k < lp->n_devices; k++) {
		const struct task_device *d = &lp->devices[k];
		struct ctr_device *out = &s->devices[s->n_devices];
		cleanup_free char *field = xasprintf("linuxParameters.devices[%zu].containerPath", k);
		cleanup_free char *path = NULL;
		int r;

		r = clean_target(c, field, d->container_path ? d->container_path : d->host_path,
				 &path, err);
		if (r < 0)
			return r;
		out->host_path = xstrdup(d->host_path);
		out->container_path = steal_pointer(&path);
		if (d->permissions[0] == NULL) {
			out->read = out->write = out->mknod = true;
		} else {
			for (size_t p = 0; d->permissions[p]; p++) {
				out->read |= strcmp(d->permissions[p], "read") == 0;
				out->write |= strcmp(d->permissions[p], "write") == 0;
				out->mknod |= strcmp(d->permissions[p], "mknod") == 0;
			}
		}
		s->n_devices++;
	}
	return 0;
}

/* ------------------------------------------------------- limits, signals */

static const struct {
	const char *name;
	int resource;
} rlimit_names[] = {
	{ "core", RLIMIT_CORE },       { "cpu", RLIMIT_CPU },
	{ "data", RLIMIT_DATA },       { "fsize", RLIMIT_FSIZE },
	{ "locks", RLIMIT_LOCKS },     { "memlock", RLIMIT_MEMLOCK },
	{ "msgqueue", RLIMIT_MSGQUEUE }, { "nice", RLIMIT_NICE },
	{ "nofile", RLIMIT_NOFILE },   { "nproc", RLIMIT_NPROC },
	{ "rss", RLIMIT_RSS },         { "rtprio", RLIMIT_RTPRIO },
	{ "rttime", RLIMIT_RTTIME },   { "sigpending", RLIMIT_SIGPENDING },
	{ "stack", RLIMIT_STACK },
};

int ctr_rlimit_resource(const char *name)
{
	for (size_t i = 0; name && i < sizeof(rlimit_names) / sizeof(rlimit_names[0]); i++)
		if (strcmp(name, rlimit_names[i].name) == 0)
			return rlimit_names[i].resource;
	return -1;
}

static int resolve_rlimits(const struct rctx *c, struct ctr_spec *s, struct berr **err)
{
	const struct task_container *ct = c->ct;
	bool nofile = false;

	s->rlimits = xcalloc(ct->n_ulimits + 1, sizeof(*s->rlimits));
	for (size_t k = 0; k < ct->n_ulimits; k++) {
		const struct task_ulimit *u = &ct->ulimits[k];
		int res = ctr_rlimit_resource(u->name);

		if (res < 0)
			return fail(c, err, 0, "ulimits", "[%zu]: \"%s\" is not a ulimit name", k,
				    berr_q(u->name));
		if (u->soft_limit < 0 || u->hard_limit < u->soft_limit)
			return fail(c, err, 0, "ulimits", "[%zu]: %s: soft %lld, hard %lld is not a "
				    "limit", k, berr_q(u->name), (long long)u->soft_limit,
				    (long long)u->hard_limit);
		s->rlimits[s->n_rlimits++] = (struct ctr_rlimit){
			res, (uint64_t)u->soft_limit, (uint64_t)u->hard_limit,
		};
		nofile |= res == RLIMIT_NOFILE;
	}
	if (!nofile)
		s->rlimits[s->n_rlimits++] = (struct ctr_rlimit){
			RLIMIT_NOFILE, DEFAULT_NOFILE, DEFAULT_NOFILE,
		};
	return 0;
}

static const struct {
	const char *name;
	int sig;
} signal_names[] = {
	{ "ABRT", SIGABRT }, { "ALRM", SIGALRM }, { "BUS", SIGBUS },     { "CHLD", SIGCHLD },
	{ "CLD", SIGCHLD },  { "CONT", SIGCONT }, { "FPE", SIGFPE },     { "HUP", SIGHUP },
	{ "ILL", SIGILL },   { "INT", SIGINT },   { "IO", SIGIO },       { "IOT", SIGIOT },
	{ "KILL", SIGKILL }, { "PIPE", SIGPIPE }, { "POLL", SIGPOLL },   { "PROF", SIGPROF },
	{ "PWR", SIGPWR },   { "QUIT", SIGQUIT }, { "SEGV", SIGSEGV },   { "STKFLT", SIGSTKFLT },
	{ "STOP", SIGSTOP }, { "SYS", SIGSYS },   { "TERM", SIGTERM },   { "TRAP", SIGTRAP },
	{ "TSTP", SIGTSTP }, { "TTIN", SIGTTIN }, { "TTOU", SIGTTOU },   { "URG", SIGURG },
	{ "USR1", SIGUSR1 }, { "USR2", SIGUSR2 }, { "VTALRM", SIGVTALRM }, { "WINCH", SIGWINCH },
	{ "XCPU", SIGXCPU }, { "XFSZ", SIGXFSZ },
};

/* Docker's signal.ParseSignal: a number (1-64), or a name with or without
 * SIG, any case, including RTMIN, RTMIN+n, RTMAX-n, RTMAX. */
int ctr_signal_parse(const char *s)
{
	unsigned long long n;

	if (s == NULL || *s == '\0')
		return -1;
	if (parse_id_field(s, &n))
		return n >= 1 && n <= SIG_RTMAX ? (int)n : -1;
	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	for (size_t i = 0; i < sizeof(signal_names) / sizeof(signal_names[0]); i++)
		if (strcasecmp(s, signal_names[i].name) == 0)
			return signal_names[i].sig;
	if (strncasecmp(s, "RTMIN", 5) == 0 || strncasecmp(s, "RTMAX", 5) == 0) {
		bool min = toupper((unsigned char)s[3]) == 'I';
		const char *rest = s + 5;
		int base = min ? SIG_RTMIN : SIG_RTMAX;

		if (*rest == '\0')
			return base;
		if (*rest != (min ? '+' : '-') || !parse_id_field(rest + 1, &n) || n == 0 ||
		    n > SIG_RTMAX - SIG_RTMIN)
			return -1;
		return min ? base + (int)n : base - (int)n;
	}
	return -1;
}

/* ------------------------------------------------------------- resolve */

int ctr_spec_resolve(const struct task_def *td, size_t idx, const struct oci_image_config *img,
		     int rootfs_fd, const struct ctr_resolve_opts *opts, struct ctr_spec **out,
		     struct berr **err)
{
	__attribute__((cleanup(spec_freep))) struct ctr_spec *s = NULL;
	cleanup_free char *what = NULL;
	const struct task_container *ct;
	const struct task_linux_params *lp;
	struct rctx c;
	int r;

	*out = NULL;
	if (td == NULL || idx >= td->n_containers)
		return berr_set(err, EINVAL, "resolve container %zu: the task has %zu containers", idx,
				td ? td->n_containers : 0);
	ct = &td->containers[idx];
	lp = &ct->linux_parameters;
	what = xasprintf("containerDefinitions[%zu] (%s)", idx, ct->name);
	c = (struct rctx){ td, ct, opts, what };
	s = xzalloc(sizeof(*s));
	s->name = xstrdup(ct->name);

	if (ct->hostname)
		s->hostname = xstrdup(ct->hostname);
	else if (opts && opts->default_hostname)
		s->hostname = xstrdup(opts->default_hostname);

	if ((r = resolve_argv(&c, img, s, err)) < 0)
		return r;
	if ((r = resolve_env(&c, img, s, err)) < 0)
		return r;

	{
		const char *wd = ct->working_directory ? ct->working_directory :
				 (img && img->working_dir ? img->working_dir : "/");

		if (wd[0] != '/')
			return fail(&c, err, 0, "workingDirectory", "%s\"%s\" is not an absolute path",
				    ct->working_directory ? "" : "the image's WorkingDir ", berr_q(wd));
		s->cwd = fs_path_clean(wd);
	}

	if ((r = resolve_user(&c, img, rootfs_fd, s, err)) < 0)
		return r;

	s->readonly_rootfs = ct->readonly_root_filesystem;
	s->privileged = ct->privileged;
	s->init = lp->init_process_enabled;
	s->no_new_privs = !ct->privileged;
	r = ctr_caps_compute((const char *const *)lp->cap_add, (const char *const *)lp->cap_drop,
			     ct->privileged, what, &s->caps, err);
	if (r < 0)
		return r;

	if ((r = resolve_rlimits(&c, s, err)) < 0)
		return r;
	if ((r = resolve_mounts(&c, idx, s, err)) < 0)
		return r;
	if ((r = resolve_devices(&c, s, err)) < 0)
		return r;

	s->shm_size = lp->shared_memory_size != TASK_UNSET ?
		      (uint64_t)lp->shared_memory_size << 20 : CTR_DEFAULT_SHM_BYTES;
	s->stop_signal = SIGTERM;
	if (img && img->stop_signal) {
		s->stop_signal = ctr_signal_parse(img->stop_signal);
		if (s->stop_signal < 0)
			return fail(&c, err, 0, "image", "%s: the image config's StopSignal \"%s\" is "
				    "not a signal", berr_q(ct->image), berr_q(img->stop_signal));
	}
	s->stop_timeout = ct->stop_timeout != TASK_UNSET ? ct->stop_timeout
							 : CTR_DEFAULT_STOP_TIMEOUT;
	*out = steal_pointer(&s);
	return 0;
}

void ctr_spec_free(struct ctr_spec *s)
{
	if (s == NULL)
		return;
	free(s->name);
	strv_free(s->argv);
	strv_free(s->env);
	free(s->cwd);
	free(s->groups);
	free(s->user);
	free(s->hostname);
	free(s->rlimits);
	for (size_t i = 0; i < s->n_mounts; i++) {
		free(s->mounts[i].source);
		free(s->mounts[i].target);
		free(s->mounts[i].data);
	}
	free(s->mounts);
	for (size_t i = 0; i < s->n_devices; i++) {
		free(s->devices[i].host_path);
		free(s->devices[i].container_path);
	}
	free(s->devices);
	free(s);
}
