/* runtime/cli/logs.c - `berth logs`: a task's container logs, read from the
 * JSON-lines files the shim writes (runtime/shim/taskrun.c, emit_line):
 *
 *     <logDir>/<task id>/<container>.log      {"time": RFC3339 UTC with ns,
 *     <logDir>/<task id>/<container>.log.N     "stream": "stdout"|"stderr",
 *                                               "log": "the line"}
 *
 * .log.1 is the newest rotated file, higher N older. Several containers are
 * merged by time. -f keeps the current file open and polls: new lines are
 * read from the open fd; when <container>.log is replaced (rotated: renamed,
 * a new one created) the rest of the old file is read and the new one
 * followed; a truncated file is read again from its start. It ends when
 * berthd says the task is STOPPED (asked every second) or on Ctrl-C. */
#include "runtime/cli/cli.h"
#include "runtime/cli/client.h"

#include "common/cleanup.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOG_DIR_DEFAULT "/var/log/berth/tasks"
#define POLL_MS 250
#define STATUS_EVERY_MS 1000
#define LINE_MAX_BYTES (8u << 20)   /* a longer "line" is cut (a broken file) */

struct rec {
	int64_t sec;
	long nsec;
	char *time;          /* as written */
	bool err;            /* stream stderr */
	char *text;
	size_t len;
	size_t ctr;
};

struct ctr {
	char *name;
	char *path;          /* <dir>/<name>.log */
	int fd;              /* -f: the file being followed */
	dev_t dev;
	ino_t ino;
	off_t off;
	char *part;          /* a line not yet complete */
	size_t part_len, part_cap;
	struct rec *recs;    /* buffered, in file order */
	size_t n, cap;
	size_t bad;          /* lines that are not log records */
};

struct logs {
	char *dir;
	struct ctr *c;
	size_t n;
	const char *only;    /* CONTAINER, or NULL for every one */
	bool prefix, timestamps, follow, direct;
	bool have_since;
	int64_t since_sec;
	long since_nsec;
	long tail;           /* -1: everything */
	FILE *last;          /* the stream written last (flushed on a switch) */
};

static void logs_usage(FILE *f)
{
	fprintf(f,
		"Usage: berth logs [OPTIONS] TASK [CONTAINER]\n"
		"\n"
		"Print a task's container output, from the JSON-lines files under LOG-DIR/<task id>/\n"
		"(one per container, rotated ones included). Lines of several containers are\n"
		"merged by time and prefixed with the container's name. stdout lines go to\n"
		"stdout, stderr lines to stderr. TASK is a task id, a unique prefix of one, or\n"
		"an ARN; tasks of `berth run` (no daemon) work too, by their id.\n"
		"\n"
		"  -f, --follow          keep printing new lines until the task is STOPPED\n"
		"                        (berthd is asked every second) or Ctrl-C\n"
		"  --since WHEN          only lines from WHEN on: a duration before now (90s,\n"
		"                        10m, 1h30m, 2d), an RFC 3339 time (2026-11-21T10:45:00Z,\n"
		"                        2026-11-21T11:45:00+01:00, 2026-11-21) or Unix seconds\n"
		"  -n, --tail N          only the last N lines of each container (or \"all\")\n"
		"  -t, --timestamps      print each line's time first\n"
		"  --cluster NAME        look for TASK in this cluster only\n"
		"  --log-dir DIR         where the logs are (default $BERTH_LOG_DIR, else\n"
		"                        " LOG_DIR_DEFAULT "; berthd.json's \"logDir\")\n"
		"  --json                one JSON object per line: container, time, stream, log\n"
		"  -h, --help            this help\n"
		"\n"
		"Exit codes: 0, 1 a file cannot be read or berthd failed, 2 usage, 3 no such\n"
		"task or container.\n");
}

/* ------------------------------------------------------------ time */

/* RFC 3339: YYYY-MM-DD[(T| )HH:MM:SS[.frac][Z|±HH:MM]]; a date alone is its
 * midnight UTC, no zone is UTC. */
static int parse_time(const char *s, int64_t *sec, long *nsec)
{
	struct tm tm = { 0 };
	const char *p;
	long ns = 0, off = 0;
	int digits = 0;

	p = strptime(s, "%Y-%m-%d", &tm);
	if (!p)
		return -1;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p = strptime(p + 1, "%H:%M:%S", &tm);
		if (!p)
			return -1;
		if (*p == '.') {
			for (p++; isdigit((unsigned char)*p); p++, digits++)
				if (digits < 9)
					ns = ns * 10 + (*p - '0');
			if (digits == 0)
				return -1;
			for (; digits < 9; digits++)
				ns *= 10;
		}
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int sign = *p == '-' ? -1 : 1;

			if (!isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]) || p[3] != ':' ||
			    !isdigit((unsigned char)p[4]) || !isdigit((unsigned char)p[5]))
				return -1;
			off = sign * (((p[1] - '0') * 10 + (p[2] - '0')) * 3600L +
				      ((p[4] - '0') * 10 + (p[5] - '0')) * 60L);
			p += 6;
		}
	}
	if (*p)
		return -1;
	*sec = (int64_t)timegm(&tm) - off;
	*nsec = ns;
	return 0;
}

/* --since: a duration ago, an RFC 3339 time, or Unix seconds. */
static int parse_since(const char *s, int64_t *sec, long *nsec)
{
	struct timespec now;
	const char *p = s;
	int64_t ms = 0;

	clock_gettime(CLOCK_REALTIME, &now);
	/* a duration: (<digits><ms|s|m|h|d>)+ */
	while (*p && isdigit((unsigned char)*p)) {
		int64_t v = 0, unit;

		for (; isdigit((unsigned char)*p); p++) {
			if (v > INT64_MAX / 100)
				return -1;
			v = v * 10 + (*p - '0');
		}
		if (!strncmp(p, "ms", 2)) {
			unit = 1;
			p += 2;
		} else if (*p == 's' || *p == 'm' || *p == 'h' || *p == 'd') {
			unit = *p == 's' ? 1000 : *p == 'm' ? 60000 : *p == 'h' ? 3600000 : 86400000;
			p++;
		} else {
			break;   /* not a duration */
		}
		if (v > INT64_MAX / unit / 2)
			return -1;
		ms += v * unit;
		if (!*p) {
			int64_t t = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 - ms;

			*sec = t >= 0 ? t / 1000 : 0;
			*nsec = t >= 0 ? (long)(t % 1000) * 1000000 : 0;
			return 0;
		}
	}
	/* Unix seconds[.frac] */
	p = s;
	if (isdigit((unsigned char)*p) && strspn(p, "0123456789.") == strlen(p) &&
	    strchr(p, '.') == strrchr(p, '.')) {
		char *end;
		double v = strtod(p, &end);

		if (*end || v < 0)
			return -1;
		*sec = (int64_t)v;
		*nsec = (long)((v - (double)*sec) * 1e9);
		return 0;
	}
	return parse_time(s, sec, nsec);
}

/* ------------------------------------------------------------ records */

static int rec_cmp(const struct rec *a, const struct rec *b)
{
	if (a->sec != b->sec)
		return a->sec < b->sec ? -1 : 1;
	if (a->nsec != b->nsec)
		return a->nsec < b->nsec ? -1 : 1;
	return a->ctr < b->ctr ? -1 : a->ctr > b->ctr;
}

static void rec_free(struct rec *r)
{
	free(r->time);
	free(r->text);
}

/* A line of a log file as a record: 0, or -1 when it is not one. */
static int rec_parse(const char *line, size_t len, size_t ctr, struct rec *r)
{
	cleanup_json json_t *v = json_loadb(line, len, JSON_ALLOW_NUL, NULL);
	json_t *t = json_object_get(v, "time"), *s = json_object_get(v, "stream");
	json_t *l = json_object_get(v, "log");

	if (!l)
		l = json_object_get(v, "line");
	if (!json_is_object(v) || !json_is_string(l))
		return -1;
	memset(r, 0, sizeof(*r));
	r->time = xstrdup(json_is_string(t) ? json_string_value(t) : "");
	if (parse_time(r->time, &r->sec, &r->nsec) < 0)
		r->sec = r->nsec = 0;   /* kept, in file order */
	r->err = json_is_string(s) && !strcmp(json_string_value(s), "stderr");
	r->len = json_string_length(l);
	r->text = xmemdup(json_string_value(l), r->len + 1);
	r->ctr = ctr;
	return 0;
}

static void emit(struct logs *L, const struct rec *r)
{
	FILE *f = r->err ? stderr : stdout;

	if (cli.json) {
		cleanup_json json_t *o = json_pack("{s:s, s:s, s:s, s:s%}", "container", L->c[r->ctr].name,
						   "time", r->time, "stream", r->err ? "stderr" : "stdout",
						   "log", r->text, r->len);
		cleanup_free char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

		if (s)
			printf("%s\n", s);
		return;
	}
	if (L->last && L->last != f)
		fflush(L->last);
	L->last = f;
	if (L->timestamps)
		fprintf(f, "%s ", r->time);
	if (L->prefix)
		fprintf(f, "%s | ", L->c[r->ctr].name);
	fwrite(r->text, 1, r->len, f);
	fputc('\n', f);
}

static bool wanted(const struct logs *L, const struct rec *r)
{
	if (!L->have_since || r->sec == 0)
		return true;
	return r->sec > L->since_sec || (r->sec == L->since_sec && r->nsec >= L->since_nsec);
}

static void trim(struct ctr *c, long keep)
{
	size_t drop;

	if (keep < 0 || c->n <= (size_t)keep)
		return;
	drop = c->n - (size_t)keep;
	for (size_t i = 0; i < drop; i++)
		rec_free(&c->recs[i]);
	memmove(c->recs, c->recs + drop, (size_t)keep * sizeof(*c->recs));
	c->n = (size_t)keep;
}

/* One complete line of container ci. */
static void take_line(struct logs *L, size_t ci, const char *line, size_t len)
{
	struct ctr *c = &L->c[ci];
	struct rec r;

	if (len == 0)
		return;
	if (rec_parse(line, len, ci, &r) < 0) {
		c->bad++;
		return;
	}
	if (!wanted(L, &r)) {
		rec_free(&r);
		return;
	}
	if (L->direct) {
		emit(L, &r);
		rec_free(&r);
		return;
	}
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->recs = xreallocarray(c->recs, c->cap, sizeof(*c->recs));
	}
	c->recs[c->n++] = r;
	/* a tail keeps memory bounded: drop what can no longer be printed */
	if (L->tail >= 0 && c->n > 2 * (size_t)L->tail + 256)
		trim(c, L->tail);
}

/* The partial line, as a line (end of a file that will not grow). */
static void flush_part(struct logs *L, size_t ci)
{
	struct ctr *c = &L->c[ci];

	if (c->part_len)
		take_line(L, ci, c->part, c->part_len);
	c->part_len = 0;
}

/* Read fd to its end, taking every complete line; what follows the last
 * newline stays in the partial buffer. Returns 0, or -errno. */
static int read_lines(struct logs *L, size_t ci, int fd, off_t *off)
{
	struct ctr *c = &L->c[ci];
	char buf[65536];

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		const char *p = buf, *end;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		if (off)
			*off += n;
		end = buf + n;
		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t chunk = (size_t)((nl ? nl : end) - p);

			if (c->part_len + chunk > LINE_MAX_BYTES)
				chunk = c->part_len < LINE_MAX_BYTES ? LINE_MAX_BYTES - c->part_len : 0;
			if (c->part_len + chunk + 1 > c->part_cap) {
				c->part_cap = (c->part_len + chunk + 1) * 2;
				c->part = xrealloc(c->part, c->part_cap);
			}
			memcpy(c->part + c->part_len, p, chunk);
			c->part_len += chunk;
			if (!nl)
				break;
			take_line(L, ci, c->part, c->part_len);
			c->part_len = 0;
			p = nl + 1;
		}
	}
}

/* ------------------------------------------------------------ files */

static bool valid_name(const char *s)
{
	return *s && strlen(s) <= 255 && !strchr(s, '/') && strcmp(s, ".") && strcmp(s, "..") &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") ==
	       strlen(s);
}

static size_t add_ctr(struct logs *L, const char *name)
{
	for (size_t i = 0; i < L->n; i++)
		if (!strcmp(L->c[i].name, name))
			return i;
	L->c = xreallocarray(L->c, L->n + 1, sizeof(*L->c));
	memset(&L->c[L->n], 0, sizeof(*L->c));
	L->c[L->n].name = xstrdup(name);
	L->c[L->n].path = xasprintf("%s/%s.log", L->dir, name);
	L->c[L->n].fd = -1;
	return L->n++;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Containers that have a <name>.log (or only rotated files) in the task's
 * directory, sorted, added to L when not there yet. */
static void scan_dir(struct logs *L)
{
	cleanup_closedir DIR *d = opendir(L->dir);
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		const char *dot = strstr(de->d_name, ".log");
		cleanup_free char *name = NULL;

		if (!dot || dot == de->d_name)
			continue;
		/* <name>.log or <name>.log.<digits> */
		if (dot[4] && (dot[4] != '.' || !dot[5] || strspn(dot + 5, "0123456789") != strlen(dot + 5)))
			continue;
		name = xstrndup(de->d_name, (size_t)(dot - de->d_name));
		if (!valid_name(name))
			continue;
		names = xreallocarray(names, n + 1, sizeof(*names));
		names[n++] = steal_pointer(&name);
	}
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		add_ctr(L, names[i]);
		free(names[i]);
	}
	free(names);
}

struct rotated {
	unsigned long n;
	char *path;
};

static int older_first(const void *a, const void *b)
{
	const struct rotated *x = a, *y = b;

	return x->n < y->n ? 1 : x->n > y->n ? -1 : 0;
}

/* <name>.log.N, oldest (highest N) first. */
static struct rotated *rotated_files(const struct logs *L, const char *name, size_t *count)
{
	cleanup_closedir DIR *d = opendir(L->dir);
	struct rotated *out = NULL;
	size_t n = 0, nl = strlen(name);
	struct dirent *de;

	*count = 0;
	if (!d)
		return NULL;
	while ((de = readdir(d))) {
		const char *p = de->d_name;

		if (strncmp(p, name, nl) || strncmp(p + nl, ".log.", 5) || !p[nl + 5] ||
		    strspn(p + nl + 5, "0123456789") != strlen(p + nl + 5) || strlen(p + nl + 5) > 9)
			continue;
		out = xreallocarray(out, n + 1, sizeof(*out));
		out[n].n = strtoul(p + nl + 5, NULL, 10);
		out[n].path = xasprintf("%s/%s", L->dir, p);
		n++;
	}
	if (n)
		qsort(out, n, sizeof(*out), older_first);
	*count = n;
	return out;
}

static int read_path(struct logs *L, size_t ci, const char *path)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	int r;

	if (fd < 0) {
		if (errno == ENOENT)
			return 0;   /* rotated away meanwhile */
		log_error("logs: %s: %s", path, strerror(errno));
		return -1;
	}
	r = read_lines(L, ci, fd, NULL);
	flush_part(L, ci);
	if (r < 0) {
		log_error("logs: read %s: %s", path, strerror(-r));
		return -1;
	}
	return 0;
}

/* Open the container's current file for following. 1 opened, 0 absent. */
static int open_current(struct logs *L, size_t ci)
{
	struct ctr *c = &L->c[ci];
	struct stat st;
	int fd = open(c->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return 0;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return 0;
	}
	c->fd = fd;
	c->dev = st.st_dev;
	c->ino = st.st_ino;
	c->off = 0;
	c->part_len = 0;
	return 1;
}

/* Everything written so far for container ci (rotated files first). In
 * follow mode the current file stays open, at its end. */
static int read_history(struct logs *L, size_t ci)
{
	struct ctr *c = &L->c[ci];
	struct rotated *rot;
	size_t nrot;
	int rc = 0, r;

	/* open the current file before reading the rotated ones: a rotation in
	 * between may repeat lines, never lose them */
	if (L->follow)
		open_current(L, ci);
	rot = rotated_files(L, c->name, &nrot);
	for (size_t i = 0; i < nrot; i++) {
		if (read_path(L, ci, rot[i].path) < 0)
			rc = -1;
		free(rot[i].path);
	}
	free(rot);
	if (!L->follow)
		return read_path(L, ci, c->path) < 0 ? -1 : rc;
	if (c->fd >= 0 && (r = read_lines(L, ci, c->fd, &c->off)) < 0) {
		log_error("logs: read %s: %s", c->path, strerror(-r));
		rc = -1;
	}
	return rc;
}

/* Print what the containers have buffered, merged by time; then empty. */
static void print_merged(struct logs *L, long tail)
{
	size_t *pos = xcalloc(L->n ? L->n : 1, sizeof(*pos));

	for (size_t i = 0; i < L->n; i++)
		trim(&L->c[i], tail);
	for (;;) {
		struct rec *best = NULL;

		for (size_t i = 0; i < L->n; i++)
			if (pos[i] < L->c[i].n && (!best || rec_cmp(&L->c[i].recs[pos[i]], best) < 0))
				best = &L->c[i].recs[pos[i]];
		if (!best)
			break;
		emit(L, best);
		pos[best->ctr]++;
	}
	for (size_t i = 0; i < L->n; i++) {
		for (size_t k = 0; k < L->c[i].n; k++)
			rec_free(&L->c[i].recs[k]);
		L->c[i].n = 0;
	}
	free(pos);
	fflush(stdout);
	fflush(stderr);
}

/* -f: new lines of container ci since the last look; follows rotation. */
static void follow_one(struct logs *L, size_t ci)
{
	struct ctr *c = &L->c[ci];
	struct stat st;
	int r;

	if (c->fd < 0 && !open_current(L, ci))
		return;
	if ((r = read_lines(L, ci, c->fd, &c->off)) < 0)
		log_warn("logs: read %s: %s", c->path, strerror(-r));
	if (stat(c->path, &st) < 0)
		return;   /* renamed, the new one not there yet: keep the old */
	if (st.st_dev != c->dev || st.st_ino != c->ino) {
		/* rotated: the rest of the old file, then the new one */
		(void)read_lines(L, ci, c->fd, &c->off);
		flush_part(L, ci);
		close(c->fd);
		c->fd = -1;
		if (open_current(L, ci) && (r = read_lines(L, ci, c->fd, &c->off)) < 0)
			log_warn("logs: read %s: %s", c->path, strerror(-r));
	} else if (st.st_size < c->off) {
		/* truncated: start again */
		lseek(c->fd, 0, SEEK_SET);
		c->off = 0;
		c->part_len = 0;
		(void)read_lines(L, ci, c->fd, &c->off);
	}
}

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
	(void)sig;
	interrupted = 1;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 1: berthd says the task is STOPPED; 0: not (or cannot tell). */
static int task_stopped(const struct cli_task *t, bool *warned)
{
	struct client_error e = { 0 };
	cleanup_json json_t *resp = NULL;
	json_t *task;

	if (!t->cluster[0])
		return 0;
	if (cli_api_try("DescribeTasks", json_pack("{s:s, s:[s]}", "cluster", t->cluster, "tasks", t->id),
			&resp, &e) < 0) {
		if (!*warned)
			log_warn("logs: cannot ask berthd whether the task stopped (%s); following "
				 "until Ctrl-C", e.message);
		*warned = true;
		client_error_clear(&e);
		return 0;
	}
	task = json_array_get(json_object_get(resp, "tasks"), 0);
	return task && !strcmp(json_string_value(json_object_get(task, "lastStatus")) ?: "", "STOPPED");
}

static void follow(struct logs *L, const struct cli_task *t)
{
	struct sigaction sa = { .sa_handler = on_interrupt };
	int64_t next_check = 0;
	bool warned = false, last_round = false;

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (!t->cluster[0])
		log_info("logs: berthd does not know task %.12s (a `berth run` task?): following "
			 "until Ctrl-C", t->id);
	while (!interrupted) {
		struct timespec ts = { 0, POLL_MS * 1000000L };
		int64_t now = mono_ms();

		if (now >= next_check) {
			next_check = now + STATUS_EVERY_MS;
			if (!L->only) {
				scan_dir(L);
				if (L->n > 1)
					L->prefix = true;
			}
			if (!last_round && task_stopped(t, &warned))
				last_round = true;   /* one more look: the last lines */
			else if (last_round)
				break;
		}
		for (size_t i = 0; i < L->n; i++)
			follow_one(L, i);
		print_merged(L, -1);
		if (last_round) {
			next_check = 0;
			continue;
		}
		nanosleep(&ts, NULL);
	}
	for (size_t i = 0; i < L->n; i++) {
		follow_one(L, i);
		flush_part(L, i);
	}
	print_merged(L, -1);
}

/* ------------------------------------------------------------ the verb */

/* Task ids under the log directory that start with prefix: 0 none, 1 one
 * (id filled), 2 several. */
static int match_dir(const char *log_dir, const char *prefix, char id[33])
{
	cleanup_closedir DIR *d = opendir(log_dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (!cli_is_task_id(de->d_name) || strncmp(de->d_name, prefix, strlen(prefix)))
			continue;
		if (n++ == 0)
			memcpy(id, de->d_name, 33);
	}
	return n > 1 ? 2 : n;
}

/* The id part of a task reference, lower case, or NULL when it is not one. */
static char *ref_id(const char *ref)
{
	const char *p = ref;
	char *id;

	if (!strncmp(ref, "arn:", 4))
		p = cli_arn_tail(ref);
	if (!*p || strlen(p) > 32 || strspn(p, "0123456789abcdefABCDEF") != strlen(p))
		return NULL;
	id = xstrdup(p);
	for (char *q = id; *q; q++)
		*q = (char)tolower((unsigned char)*q);
	return id;
}

static void logs_free(struct logs *L)
{
	for (size_t i = 0; i < L->n; i++) {
		struct ctr *c = &L->c[i];

		for (size_t k = 0; k < c->n; k++)
			rec_free(&c->recs[k]);
		free(c->recs);
		free(c->part);
		free(c->name);
		free(c->path);
		if (c->fd >= 0)
			close(c->fd);
	}
	free(L->c);
	free(L->dir);
}

int cli_logs(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "since", required_argument, NULL, 's' },
		{ "tail", required_argument, NULL, 'n' },
		{ "timestamps", no_argument, NULL, 't' },
		{ "cluster", required_argument, NULL, 'c' },
		{ "log-dir", required_argument, NULL, 'L' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct logs L = { .tail = -1 };
	struct cli_task t = { 0 };
	const char *log_dir = getenv("BERTH_LOG_DIR"), *cluster = NULL, *ref;
	cleanup_free char *id = NULL, *clean = NULL;
	char dir_id[33];
	size_t total_bad = 0;
	int c, r, rc = 0;

	if (!log_dir || !*log_dir)
		log_dir = LOG_DIR_DEFAULT;
	while ((c = getopt_long(argc, argv, "fn:th", opts, NULL)) != -1) {
		switch (c) {
		case 'f': L.follow = true; break;
		case 's':
			if (parse_since(optarg, &L.since_sec, &L.since_nsec) < 0) {
				log_error("logs: --since %s: give a duration (10m, 1h30m), an RFC 3339 "
					  "time (2026-11-21T10:45:00Z) or Unix seconds", optarg);
				return CLI_EXIT_USAGE;
			}
			L.have_since = true;
			break;
		case 'n':
			if (!strcmp(optarg, "all")) {
				L.tail = -1;
			} else {
				char *end;

				errno = 0;
				L.tail = strtol(optarg, &end, 10);
				if (errno || *end || end == optarg || L.tail < 0) {
					log_error("logs: --tail %s: give a number of lines or \"all\"", optarg);
					return CLI_EXIT_USAGE;
				}
			}
			break;
		case 't': L.timestamps = true; break;
		case 'c': cluster = optarg; break;
		case 'L': log_dir = optarg; break;
		case 'j': cli.json = true; break;
		case 'h': logs_usage(stdout); return 0;
		default: logs_usage(stderr); return CLI_EXIT_USAGE;
		}
	}
	if (optind >= argc || argc - optind > 2) {
		log_error("logs: give TASK and optionally CONTAINER (see berth logs --help)");
		return CLI_EXIT_USAGE;
	}
	ref = argv[optind];
	L.only = optind + 1 < argc ? argv[optind + 1] : NULL;
	clean = cli_clean(ref);
	if (L.only && !valid_name(L.only)) {
		cleanup_free char *cn = cli_clean(L.only);

		log_error("logs: \"%s\" is not a container name", cn);
		return CLI_EXIT_USAGE;
	}
	id = ref_id(ref);
	if (!id) {
		log_error("logs: \"%s\" is not a task id, id prefix or task ARN (see berth ps -a)", clean);
		return CLI_EXIT_USAGE;
	}

	/* the task: by its log directory (tasks of `berth run` have no record in
	 * berthd), and by berthd (containers, and when it stops) */
	r = match_dir(log_dir, id, dir_id);
	if (r == 2) {
		log_error("logs: task id prefix \"%s\" is ambiguous in %s; give more of the id",
			  clean, log_dir);
		return CLI_EXIT_USAGE;
	}
	if (r == 1) {
		r = cli_task_find(dir_id, cluster, true, &t);
		if (r > 0 && r != CLI_EXIT_NOT_FOUND)
			return r;
		if (r != 0) {
			memset(&t, 0, sizeof(t));
			memcpy(t.id, dir_id, 33);
		}
	} else {
		r = cli_task_find(ref, cluster, true, &t);
		if (r < 0) {
			log_error("logs: task %s has no logs in %s, and berthd is not reachable to look "
				  "it up (is the log directory right? --log-dir, $BERTH_LOG_DIR)",
				  clean, log_dir);
			return CLI_EXIT_NOT_FOUND;
		}
		if (r == CLI_EXIT_NOT_FOUND) {
			log_error("logs: task %s not found: not in berthd and no logs in %s (see berth "
				  "ps -a)", clean, log_dir);
			return r;
		}
		if (r)
			return r;
	}
	L.dir = xasprintf("%s/%s", log_dir, t.id);

	/* the containers: the task's, or those with files */
	if (L.only) {
		cleanup_free char *names = xstrdup("");
		bool known = false;
		json_t *cv;
		size_t i;

		add_ctr(&L, L.only);
		json_array_foreach(json_object_get(t.doc, "containers"), i, cv) {
			const char *name = json_string_value(json_object_get(cv, "name")) ?: "";
			char *more = xasprintf("%s%s%s", names, i ? ", " : "", name);

			free(names);
			names = more;
			if (!strcmp(name, L.only))
				known = true;
		}
		if (!t.doc) {
			/* no record in berthd: its files say whether it exists */
			struct rotated *rot;
			size_t nrot;

			rot = rotated_files(&L, L.only, &nrot);
			for (i = 0; i < nrot; i++)
				free(rot[i].path);
			free(rot);
			known = L.follow || nrot > 0 || access(L.c[0].path, F_OK) == 0;
		}
		if (!known) {
			cleanup_free char *cn = cli_clean(L.only), *cnames = cli_clean(names);

			if (t.doc)
				log_error("logs: task %.12s has no container \"%s\" (it has: %s)", t.id, cn,
					  cnames);
			else
				log_error("logs: task %.12s has no logs of a container \"%s\" in %s", t.id,
					  cn, L.dir);
			json_decref(t.doc);
			logs_free(&L);
			return CLI_EXIT_NOT_FOUND;
		}
	} else {
		json_t *cv;
		size_t i;

		json_array_foreach(json_object_get(t.doc, "containers"), i, cv)
			if (json_is_string(json_object_get(cv, "name")) &&
			    valid_name(json_string_value(json_object_get(cv, "name"))))
				add_ctr(&L, json_string_value(json_object_get(cv, "name")));
		scan_dir(&L);
		L.prefix = L.n > 1;
	}
	json_decref(t.doc);
	t.doc = NULL;
	if (access(L.dir, F_OK) < 0 && !L.follow)
		log_info("logs: task %.12s has no logs yet (%s does not exist)", t.id, L.dir);

	/* one container, no tail, not following: print as it is read */
	L.direct = L.n == 1 && L.tail < 0;
	for (size_t i = 0; i < L.n; i++)
		if (read_history(&L, i) < 0)
			rc = CLI_EXIT_ERROR;
	print_merged(&L, L.tail);
	if (L.follow)
		follow(&L, &t);
	for (size_t i = 0; i < L.n; i++)
		total_bad += L.c[i].bad;
	if (total_bad)
		log_warn("logs: skipped %zu line%s in %s that %s not log records (JSON with time, "
			 "stream, log)", total_bad, total_bad == 1 ? "" : "s", L.dir,
			 total_bad == 1 ? "is" : "are");
	fflush(stdout);
	logs_free(&L);
	return rc;
}
