/* runtime/cli/image.c - `berth image ...`: the image store from the command line. */
#include "runtime/cli/cli.h"
#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "rootfs/import.h"
#include "rootfs/oci.h"
#include "rootfs/overlay.h"
#include "rootfs/pull.h"
#include "rootfs/store.h"
#include "common/fsutil.h"

#include <errno.h>
#include <limits.h>
#include <time.h>
#include <unistd.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void image_usage(FILE *f)
{
	fprintf(f,
		"Usage: berth image COMMAND\n"
		"\n"
		"  import FILE|DIR [--tag REF] [--platform OS/ARCH[/VARIANT]]\n"
		"                  [--max-layer-bytes N] [--max-layer-entries N]\n"
		"                  import a docker-archive (docker save), an oci-archive or an\n"
		"                  OCI layout directory; verifies every blob, unpacks layers once;\n"
		"                  a layer larger than N bytes uncompressed (default 64 GiB) or\n"
		"                  with more than N entries (default 4194304) is refused\n"
		"  pull REF [--platform OS/ARCH[/VARIANT]] [--policy always|if-not-present|never]\n"
		"                  [--quiet] [--progress auto|bar|plain|json|none]\n"
		"                  [--insecure-registry HOST]... [--credentials FILE] [--docker-config FILE]\n"
		"                  [--parallel N] [--retries N] [--limit-rate BYTES] [--ca-file FILE]\n"
		"                  [--max-layer-bytes N] [--max-layer-entries N]\n"
		"                  pull [registry/]repository[:tag|@digest] from its registry (Docker\n"
		"                  Hub when no registry is named); exit codes: 0 pulled or present,\n"
		"                  1 error, 2 usage or not supported, 3 not found, 4 authentication,\n"
		"                  5 registry unreachable, 6 content did not verify\n"
		"  ls              list images (REPOSITORY, TAG, DIGEST, CREATED, SIZE)\n"
		"  inspect REF     the image's record and configuration, as JSON\n"
		"  tag REF NEW     give an image another name\n"
		"  rm REF...       remove names (and the image with its last name); refused while a task uses it\n"
		"  prune [--older-than DURATION] [--budget SIZE]\n"
		"                  remove unnamed images and every layer and blob no image uses;\n"
		"                  --older-than also images unused for DURATION (30d, 12h, 90m,\n"
		"                  3600s, 2w), --budget then the least recently used until the\n"
		"                  store fits in SIZE (500MB, 10G, 2GiB); leased images stay\n"
		"  mount [--rw DIR] REF TARGET\n"
		"                  mount the image's root filesystem on TARGET: read-only, or\n"
		"                  writable with its changes kept in DIR (upper/ and work/)\n"
		"  umount TARGET   undo mount; the image may be removed again\n"
		"\n"
		"REF is name[:tag] (\":latest\" when omitted), sha256:<digest>, or a digest prefix.\n"
		"Global --json gives machine-readable output.\n");
}

static int open_store(struct rootfs_store **s)
{
	cleanup_free char *path = cli_image_store_path();
	cleanup_berr struct berr *err = NULL;

	if (rootfs_store_open(path, s, &err) < 0) {
		log_error("%s", berr_msg(err));
		return -1;
	}
	return 0;
}

static void print_json(const json_t *v)
{
	cleanup_free char *txt = json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS);

	printf("%s\n", txt ? txt : "null");
}

static int fail(struct berr *err)
{
	log_error("%s", berr_msg(err));
	berr_free(err);
	return 1;
}

/* ------------------------------------------------------------ import */

static void on_progress(const char *phase, size_t i, size_t n, uint64_t done, uint64_t total, void *data)
{
	char label[64];

	if (!strcmp(phase, "read"))
		snprintf(label, sizeof(label), "reading archive");
	else
		snprintf(label, sizeof(label), "unpacking layer %zu/%zu", i + 1, n);
	cli_progress_update(data, label, done, total);
}

/* A positive decimal count for --max-layer-*: 0 would mean "the default". */
static int parse_limit(const char *opt, const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 || v == 0) {
		log_error("%s %s: want a positive whole number", opt, s);
		return -1;
	}
	*out = v;
	return 0;
}

static int cmd_import(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tag", required_argument, NULL, 't' },
		{ "platform", required_argument, NULL, 'p' },
		{ "max-layer-bytes", required_argument, NULL, 'B' },
		{ "max-layer-entries", required_argument, NULL, 'E' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct rootfs_import_opts o = { 0 };
	struct rootfs_import_result res = { 0 };
	struct rootfs_store *s = NULL;
	struct berr *err = NULL;
	cleanup_free char *plat = NULL;
	struct cli_progress *bar;
	int c, r;

	while ((c = getopt_long(argc, argv, "t:h", opts, NULL)) != -1) {
		switch (c) {
		case 't': o.tag = optarg; break;
		case 'p': {
			char *a, *v;

			plat = xstrdup(optarg);
			a = strchr(plat, '/');
			if (a == NULL || a[1] == '\0') {
				log_error("--platform %s: want OS/ARCH[/VARIANT], e.g. linux/amd64", optarg);
				return 2;
			}
			*a++ = '\0';
			v = strchr(a, '/');
			if (v)
				*v++ = '\0';
			o.os = plat;
			o.arch = a;
			o.variant = v;
			break;
		}
		case 'B':
			if (parse_limit("--max-layer-bytes", optarg, &o.unpack.max_bytes) < 0)
				return 2;
			break;
		case 'E':
			if (parse_limit("--max-layer-entries", optarg, &o.unpack.max_entries) < 0)
				return 2;
			break;
		case 'h': image_usage(stdout); return 0;
		default: return 2;
		}
	}
	if (optind + 1 != argc) {
		log_error("image import: give one FILE or DIR (see berth image --help)");
		return 2;
	}
	if (open_store(&s) < 0)
		return 1;
	bar = cli_progress_new("importing");
	o.progress = on_progress;
	o.progress_data = bar;
	r = rootfs_import(s, argv[optind], &o, &res, &err);
	cli_progress_done(bar);
	if (r < 0) {
		rootfs_store_close(s);
		return fail(err);
	}
	if (cli.json) {
		cleanup_json json_t *out = json_object();
		json_t *imgs = json_array();
		char buf[ROOTFS_DIGEST_STR];

		json_object_set_new(out, "format", json_string(res.format));
		for (size_t i = 0; i < res.n_images; i++) {
			json_t *refs = json_array();

			for (char **t = res.images[i].refs; *t; t++)
				json_array_append_new(refs, json_string(*t));
			json_array_append_new(imgs, json_pack("{s:s, s:o, s:I, s:I}",
				"digest", rootfs_digest_str(&res.images[i].manifest, buf), "refs", refs,
				"layers", (json_int_t)res.images[i].layers,
				"layersUnpacked", (json_int_t)res.images[i].layers_unpacked));
		}
		json_object_set_new(out, "images", imgs);
		json_object_set_new(out, "bytesUnpacked", json_integer((json_int_t)res.bytes_unpacked));
		print_json(out);
	} else {
		for (size_t i = 0; i < res.n_images; i++) {
			char buf[ROOTFS_DIGEST_STR];
			const struct rootfs_imported *im = &res.images[i];

			printf("imported %s (%s): %s, %zu layer%s, %zu unpacked, %zu shared\n",
			       im->refs[0] ? im->refs[0] : "<untagged>", res.format,
			       rootfs_digest_str(&im->manifest, buf), im->layers, im->layers == 1 ? "" : "s",
			       im->layers_unpacked, im->layers - im->layers_unpacked);
		}
	}
	rootfs_import_result_free(&res);
	rootfs_store_close(s);
	return 0;
}

/* ------------------------------------------------------------ pull */

/* Exit codes of `berth image pull` (docs/cli.md). */
#define PULL_EXIT_ERROR 1
#define PULL_EXIT_USAGE 2
#define PULL_EXIT_NOT_FOUND 3
#define PULL_EXIT_AUTH 4
#define PULL_EXIT_UNREACHABLE 5
#define PULL_EXIT_VERIFY 6

enum pull_progress_mode { PP_AUTO, PP_BAR, PP_PLAIN, PP_JSON, PP_NONE };

struct pull_line {
	char digest[20];
	const char *phase;
	uint64_t done, total;
	bool used;
};

struct pull_view {
	enum pull_progress_mode mode;
	struct pull_line *lines;
	size_t n, drawn;
	struct timespec last;
	enum rootfs_pull_phase *last_phase;   /* plain/json: per layer, to print phase changes */
	struct timespec *last_json;
};

static double ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) * 1000 + (double)(now.tv_nsec - t->tv_nsec) / 1e6;
}

static void pull_view_size(struct pull_view *v, size_t n)
{
	if (n <= v->n)
		return;
	v->lines = xreallocarray(v->lines, n, sizeof(*v->lines));
	v->last_phase = xreallocarray(v->last_phase, n, sizeof(*v->last_phase));
	v->last_json = xreallocarray(v->last_json, n, sizeof(*v->last_json));
	for (size_t i = v->n; i < n; i++) {
		memset(&v->lines[i], 0, sizeof(v->lines[i]));
		v->lines[i].phase = "waiting";
		v->last_phase[i] = (enum rootfs_pull_phase)-1;
		memset(&v->last_json[i], 0, sizeof(v->last_json[i]));
	}
	v->n = n;
}

static void pull_view_draw(struct pull_view *v, bool force)
{
	if (!force && v->drawn && ms_since(&v->last) < 100)
		return;
	clock_gettime(CLOCK_MONOTONIC, &v->last);
	if (v->drawn)
		fprintf(stderr, "\033[%zuA", v->drawn);
	for (size_t i = 0; i < v->n; i++) {
		struct pull_line *l = &v->lines[i];
		char a[32], b[32], bar[21];
		int fill = l->total ? (int)(l->done * 20 / l->total) : 0;

		if (fill > 20)
			fill = 20;
		memset(bar, '=', (size_t)fill);
		memset(bar + fill, ' ', (size_t)(20 - fill));
		bar[20] = '\0';
		cli_human_size(l->done, a, sizeof(a));
		cli_human_size(l->total, b, sizeof(b));
		fprintf(stderr, "\r\033[Klayer %zu/%zu %-19s %-11s [%s] %s/%s\n", i + 1, v->n,
			l->used ? l->digest : "", l->phase, bar, a, b);
	}
	v->drawn = v->n;
	fflush(stderr);
}

static const char *phase_word(enum rootfs_pull_phase p)
{
	switch (p) {
	case ROOTFS_PULL_PHASE_EXISTS: return "exists";
	case ROOTFS_PULL_PHASE_WAIT: return "waiting";
	case ROOTFS_PULL_PHASE_DOWNLOAD: return "downloading";
	case ROOTFS_PULL_PHASE_RETRY: return "retrying";
	case ROOTFS_PULL_PHASE_DOWNLOADED: return "downloaded";
	case ROOTFS_PULL_PHASE_UNPACK: return "unpacking";
	case ROOTFS_PULL_PHASE_LAYER_DONE: return "done";
	default: return "resolving";
	}
}

static void on_pull_event(const struct rootfs_pull_event *ev, void *data)
{
	struct pull_view *v = data;
	char dbuf[ROOTFS_DIGEST_STR];

	if (v->mode == PP_NONE)
		return;
	if (ev->phase == ROOTFS_PULL_PHASE_RESOLVE) {
		if (v->mode == PP_JSON) {
			printf("{\"event\":\"resolve\"}\n");
			fflush(stdout);
		} else if (v->mode == PP_PLAIN) {
			fprintf(stderr, "resolving\n");
		}
		return;
	}
	if (ev->phase == ROOTFS_PULL_PHASE_WAIT && ev->n_layers == 0) {
		/* another pull of this reference runs (berth logs that at info) */
		if (v->mode == PP_JSON) {
			printf("{\"event\":\"wait\"}\n");
			fflush(stdout);
		}
		return;
	}
	pull_view_size(v, ev->n_layers);
	if (ev->layer >= v->n)
		return;
	if (v->mode == PP_BAR) {
		struct pull_line *l = &v->lines[ev->layer];

		snprintf(l->digest, sizeof(l->digest), "%.19s", ev->blob ? rootfs_digest_str(ev->blob, dbuf) : "");
		l->used = true;
		l->phase = phase_word(ev->phase);
		l->done = ev->done;
		l->total = ev->total;
		pull_view_draw(v, ev->phase != ROOTFS_PULL_PHASE_DOWNLOAD && ev->phase != ROOTFS_PULL_PHASE_UNPACK);
		return;
	}
	/* plain and json: every change of phase; json also progress, 5 a second per layer */
	if (v->last_phase[ev->layer] == ev->phase &&
	    (v->mode == PP_PLAIN || ms_since(&v->last_json[ev->layer]) < 200))
		return;
	v->last_phase[ev->layer] = ev->phase;
	clock_gettime(CLOCK_MONOTONIC, &v->last_json[ev->layer]);
	if (v->mode == PP_JSON) {
		printf("{\"event\":\"%s\",\"layer\":%zu,\"layers\":%zu,\"digest\":\"%s\",\"done\":%llu,\"total\":%llu}\n",
		       rootfs_pull_phase_name(ev->phase), ev->layer, ev->n_layers,
		       ev->blob ? rootfs_digest_str(ev->blob, dbuf) : "", (unsigned long long)ev->done,
		       (unsigned long long)ev->total);
		fflush(stdout);
	} else {
		char a[32];

		cli_human_size(ev->total, a, sizeof(a));
		fprintf(stderr, "layer %zu/%zu %.19s %s%s%s\n", ev->layer + 1, ev->n_layers,
			ev->blob ? rootfs_digest_str(ev->blob, dbuf) : "", phase_word(ev->phase),
			ev->phase == ROOTFS_PULL_PHASE_DOWNLOADED ? " " : "",
			ev->phase == ROOTFS_PULL_PHASE_DOWNLOADED ? a : "");
	}
}

static int pull_exit_code(enum rootfs_pull_failure f)
{
	switch (f) {
	case ROOTFS_PULL_OK: return 0;
	case ROOTFS_PULL_FAIL_NOT_FOUND: return PULL_EXIT_NOT_FOUND;
	case ROOTFS_PULL_FAIL_AUTH: return PULL_EXIT_AUTH;
	case ROOTFS_PULL_FAIL_UNREACHABLE: return PULL_EXIT_UNREACHABLE;
	case ROOTFS_PULL_FAIL_VERIFY: return PULL_EXIT_VERIFY;
	case ROOTFS_PULL_FAIL_UNSUPPORTED: return PULL_EXIT_USAGE;
	default: return PULL_EXIT_ERROR;
	}
}

/* berth's credentials file: $BERTH_CREDENTIALS, else /etc/berth/credentials.json.
 * docker's: $DOCKER_CONFIG/config.json, else $HOME/.docker/config.json. */
static char *default_docker_config(void)
{
	const char *d = getenv("DOCKER_CONFIG"), *home = getenv("HOME");

	if (d && *d)
		return xasprintf("%s/config.json", d);
	if (home && *home)
		return xasprintf("%s/.docker/config.json", home);
	return NULL;
}

static int cmd_pull(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "platform", required_argument, NULL, 'p' },
		{ "policy", required_argument, NULL, 'P' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "progress", required_argument, NULL, 'g' },
		{ "insecure-registry", required_argument, NULL, 'i' },
		{ "credentials", required_argument, NULL, 'c' },
		{ "docker-config", required_argument, NULL, 'd' },
		{ "repository-credentials", required_argument, NULL, 'R' },
		{ "parallel", required_argument, NULL, 'n' },
		{ "retries", required_argument, NULL, 'r' },
		{ "limit-rate", required_argument, NULL, 'L' },
		{ "ca-file", required_argument, NULL, 'C' },
		{ "max-layer-bytes", required_argument, NULL, 'B' },
		{ "max-layer-entries", required_argument, NULL, 'E' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct rootfs_pull_opts o = { 0 };
	struct rootfs_pull_result res = { 0 };
	struct pull_view view = { .mode = PP_AUTO };
	struct rootfs_store *s = NULL;
	struct berr *err = NULL;
	cleanup_free char *plat = NULL, *dcfg = NULL;
	const char **insecure = xcalloc(1, sizeof(char *));
	size_t n_insecure = 0;
	const char *creds = getenv("BERTH_CREDENTIALS");
	bool quiet = false;
	uint64_t num;
	int c, r, rc;

	if (creds == NULL || *creds == '\0')
		creds = "/etc/berth/credentials.json";
	dcfg = default_docker_config();
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (c) {
		case 'p': {
			char *a, *v;

			free(plat);
			plat = xstrdup(optarg);
			a = strchr(plat, '/');
			if (a == NULL || a[1] == '\0') {
				log_error("--platform %s: want OS/ARCH[/VARIANT], e.g. linux/amd64", optarg);
				rc = PULL_EXIT_USAGE;
				goto out;
			}
			*a++ = '\0';
			v = strchr(a, '/');
			if (v)
				*v++ = '\0';
			o.os = plat;
			o.arch = a;
			o.variant = v;
			break;
		}
		case 'P':
			if (rootfs_pull_policy_parse(optarg, &o.policy) < 0) {
				log_error("--policy %s: use always, if-not-present or never", optarg);
				rc = PULL_EXIT_USAGE;
				goto out;
			}
			break;
		case 'q': quiet = true; view.mode = PP_NONE; break;
		case 'g':
			if (!strcmp(optarg, "auto")) view.mode = PP_AUTO;
			else if (!strcmp(optarg, "bar")) view.mode = PP_BAR;
			else if (!strcmp(optarg, "plain")) view.mode = PP_PLAIN;
			else if (!strcmp(optarg, "json")) view.mode = PP_JSON;
			else if (!strcmp(optarg, "none")) view.mode = PP_NONE;
			else {
				log_error("--progress %s: use auto, bar, plain, json or none", optarg);
				rc = PULL_EXIT_USAGE;
				goto out;
			}
			break;
		case 'i':
			insecure = xreallocarray(insecure, n_insecure + 2, sizeof(char *));
			insecure[n_insecure++] = optarg;
			insecure[n_insecure] = NULL;
			break;
		case 'c': creds = optarg; break;
		case 'd': free(dcfg); dcfg = strcmp(optarg, "none") ? xstrdup(optarg) : NULL; break;
		case 'R': o.repository_credentials = optarg; break;
		case 'n':
		case 'r':
		case 'L':
			if (parse_limit(c == 'n' ? "--parallel" : c == 'r' ? "--retries" : "--limit-rate", optarg, &num) < 0) {
				rc = PULL_EXIT_USAGE;
				goto out;
			}
			if (c == 'n')
				o.parallel = num > 64 ? 64 : (unsigned)num;
			else if (c == 'r')
				o.retries = num > 100 ? 100 : (unsigned)num;
			else
				o.max_recv_speed = (int64_t)num;
			break;
		case 'C': o.ca_file = optarg; break;
		case 'B':
			if (parse_limit("--max-layer-bytes", optarg, &o.unpack.max_bytes) < 0) {
				rc = PULL_EXIT_USAGE;
				goto out;
			}
			break;
		case 'E':
			if (parse_limit("--max-layer-entries", optarg, &o.unpack.max_entries) < 0) {
				rc = PULL_EXIT_USAGE;
				goto out;
			}
			break;
		case 'h': image_usage(stdout); rc = 0; goto out;
		default: rc = PULL_EXIT_USAGE; goto out;
		}
	}
	if (optind + 1 != argc) {
		log_error("image pull: give one image reference (see berth image --help)");
		rc = PULL_EXIT_USAGE;
		goto out;
	}
	{
		const char *env = getenv("BERTH_INSECURE_REGISTRIES");
		cleanup_free char *copy = env ? xstrdup(env) : NULL;
		char *save = NULL;

		for (char *t = copy ? strtok_r(copy, ", ", &save) : NULL; t; t = strtok_r(NULL, ", ", &save)) {
			insecure = xreallocarray(insecure, n_insecure + 2, sizeof(char *));
			insecure[n_insecure++] = xstrdup(t);   /* kept until exit */
			insecure[n_insecure] = NULL;
		}
	}
	if (view.mode == PP_AUTO)
		view.mode = isatty(STDERR_FILENO) && !cli.json ? PP_BAR : PP_NONE;
	o.insecure = insecure;
	o.credentials_file = creds;
	o.docker_config = dcfg;
	o.progress = on_pull_event;
	o.progress_data = &view;
	if (open_store(&s) < 0) {
		rc = PULL_EXIT_ERROR;
		goto out;
	}
	r = rootfs_pull(s, argv[optind], &o, &res, &err);
	if (view.mode == PP_BAR && view.drawn)
		pull_view_draw(&view, true);
	rootfs_store_close(s);
	rc = pull_exit_code(r < 0 ? (res.failure ? res.failure : ROOTFS_PULL_FAIL_OTHER) : ROOTFS_PULL_OK);
	if (r < 0) {
		log_error("%s", berr_msg(err));
		if (view.mode == PP_JSON || cli.json) {
			cleanup_json json_t *j = json_pack("{s:s, s:s, s:s, s:i}", "event", "error",
							   "failure", rootfs_pull_failure_name(res.failure),
							   "message", berr_msg(err), "exitCode", rc);
			cleanup_free char *txt = bjson_dumps(j);

			printf("%s\n", txt);
		}
		berr_free(err);
	} else {
		char dbuf[ROOTFS_DIGEST_STR];

		rootfs_digest_str(&res.manifest, dbuf);
		if (view.mode == PP_JSON || cli.json) {
			cleanup_json json_t *j = json_pack("{s:s, s:s, s:s?, s:s, s:b, s:I, s:I, s:I, s:I, s:I}",
				"event", "result", "digest", dbuf, "ref", res.ref, "source", res.source,
				"pulled", res.pulled, "layers", (json_int_t)res.layers,
				"layersDownloaded", (json_int_t)res.layers_downloaded,
				"layersUnpacked", (json_int_t)res.layers_unpacked,
				"bytesDownloaded", (json_int_t)res.bytes_downloaded, "resumed", (json_int_t)res.resumed);
			cleanup_free char *txt = bjson_dumps(j);

			printf("%s\n", txt);
		} else if (quiet) {
			printf("%s\n", dbuf);
		} else {
			char sz[32];

			cli_human_size(res.bytes_downloaded, sz, sizeof(sz));
			if (res.pulled)
				printf("pulled %s: %s, %zu layer%s (%zu downloaded, %s; %zu unpacked)\n",
				       res.ref ? res.ref : res.source, dbuf, res.layers, res.layers == 1 ? "" : "s",
				       res.layers_downloaded, sz, res.layers_unpacked);
			else
				printf("present %s: %s (pull policy %s)\n", res.ref ? res.ref : res.source, dbuf,
				       rootfs_pull_policy_name(o.policy));
		}
	}
	rootfs_pull_result_free(&res);
out:
	free(insecure);
	free(view.lines);
	free(view.last_phase);
	free(view.last_json);
	return rc;
}

/* ------------------------------------------------------------ ls */

static uint64_t image_bytes(struct rootfs_store *s, const struct rootfs_image *img)
{
	uint64_t n = 0;

	for (size_t i = 0; i < img->n_layers; i++)
		n += rootfs_store_layer_bytes(s, &img->layers[i].chain);
	return n;
}

static int cmd_ls(int argc, char **argv)
{
	static const char *const hdr[] = { "REPOSITORY", "TAG", "DIGEST", "CREATED", "SIZE" };
	struct rootfs_store *s = NULL;
	struct rootfs_image *imgs = NULL;
	struct berr *err = NULL;
	struct cli_table *t;
	cleanup_json json_t *out = json_array();
	size_t n = 0;

	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		image_usage(stdout);
		return 0;
	}
	if (argc > 1) {
		log_error("image ls: takes no arguments");
		return 2;
	}
	if (open_store(&s) < 0)
		return 1;
	if (rootfs_store_list_images(s, &imgs, &n, &err) < 0) {
		rootfs_store_close(s);
		return fail(err);
	}
	t = cli_table_new(5, hdr);
	for (size_t i = 0; i < n; i++) {
		cleanup_strv char **refs = rootfs_store_refs_of(s, &imgs[i].manifest);
		char dig[ROOTFS_DIGEST_STR], size[32], age[48], shortd[20];
		uint64_t bytes = image_bytes(s, &imgs[i]);
		json_t *jrefs = json_array();

		rootfs_digest_str(&imgs[i].manifest, dig);
		snprintf(shortd, sizeof(shortd), "%.12s", imgs[i].manifest.hex);
		cli_human_size(bytes, size, sizeof(size));
		cli_human_age(imgs[i].created, age, sizeof(age));
		for (char **r = refs; *r; r++) {
			cleanup_free char *repo = xstrdup(*r);
			char *colon = strrchr(repo, ':');
			const char *row[5];

			json_array_append_new(jrefs, json_string(*r));
			*colon = '\0';
			row[0] = repo;
			row[1] = colon + 1;
			row[2] = shortd;
			row[3] = age;
			row[4] = size;
			cli_table_row(t, row);
		}
		if (refs[0] == NULL) {
			const char *row[5] = { "<none>", "<none>", shortd, age, size };

			cli_table_row(t, row);
		}
		json_array_append_new(out, json_pack("{s:s, s:o, s:I, s:I, s:I}", "digest", dig, "refs", jrefs,
						     "created", (json_int_t)imgs[i].created,
						     "size", (json_int_t)bytes, "layers", (json_int_t)imgs[i].n_layers));
	}
	if (cli.json)
		print_json(out);
	else
		cli_table_print(t, stdout);
	cli_table_free(t);
	rootfs_images_free(imgs, n);
	rootfs_store_close(s);
	return 0;
}

/* ------------------------------------------------------------ inspect */

static json_t *strv_json(char **v)
{
	json_t *a;

	if (v == NULL)
		return json_null();
	a = json_array();
	for (; *v; v++)
		json_array_append_new(a, json_string(*v));
	return a;
}

static int cmd_inspect(int argc, char **argv)
{
	struct rootfs_store *s = NULL;
	struct berr *err = NULL;
	cleanup_json json_t *all = json_array();
	int rc = 0;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		image_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (open_store(&s) < 0)
		return 1;
	for (int i = 1; i < argc; i++) {
		struct rootfs_digest m;
		struct rootfs_image img = { 0 };
		struct oci_image_config cfg = { 0 };
		cleanup_free char *cbuf = NULL, *cwhat = NULL;
		cleanup_strv char **refs = NULL;
		char dbuf[ROOTFS_DIGEST_STR], cdbuf[ROOTFS_DIGEST_STR];
		json_t *o, *layers, *labels;
		size_t clen;

		if (rootfs_store_resolve(s, argv[i], &m, &err) < 0 ||
		    rootfs_store_get_image(s, &m, &img, &err) < 0) {
			log_error("%s", berr_msg(err));
			berr_clear(&err);
			rc = 1;
			continue;
		}
		cwhat = xasprintf("config %s", rootfs_digest_str(&img.config, cdbuf));
		if (rootfs_store_read_blob(s, &img.config, 4u << 20, &cbuf, &clen, &err) < 0 ||
		    oci_config_parse(cbuf, clen, cwhat, &cfg, &err) < 0) {
			log_error("%s", berr_msg(err));
			berr_clear(&err);
			rootfs_image_free(&img);
			rc = 1;
			continue;
		}
		refs = rootfs_store_refs_of(s, &m);
		layers = json_array();
		for (size_t k = 0; k < img.n_layers; k++) {
			char b[ROOTFS_DIGEST_STR], d[ROOTFS_DIGEST_STR], ch[ROOTFS_DIGEST_STR];

			json_array_append_new(layers, json_pack("{s:s, s:s, s:s, s:I, s:s, s:I}",
				"digest", rootfs_digest_str(&img.layers[k].blob, b),
				"diffID", rootfs_digest_str(&img.layers[k].diff_id, d),
				"chainID", rootfs_digest_str(&img.layers[k].chain, ch),
				"size", (json_int_t)img.layers[k].size,
				"compression", rootfs_compression_name(img.layers[k].comp),
				"unpackedBytes", (json_int_t)rootfs_store_layer_bytes(s, &img.layers[k].chain)));
		}
		labels = json_object();
		for (size_t k = 0; k < cfg.n_labels; k++)
			json_object_set_new(labels, cfg.labels[k].key, json_string(cfg.labels[k].value));
		o = json_pack("{s:s, s:o, s:s, s:I, s:s, s:s, s:s, s:s?, s:o}",
			"digest", rootfs_digest_str(&m, dbuf), "refs", strv_json(refs),
			"configDigest", cdbuf, "created", (json_int_t)img.created, "source", img.source,
			"os", cfg.platform.os, "architecture", cfg.platform.architecture,
			"variant", cfg.platform.variant, "layers", layers);
		json_object_set_new(o, "config", json_pack("{s:o, s:o, s:o, s:s?, s:s?, s:o, s:o, s:s?}",
			"Entrypoint", strv_json(cfg.entrypoint), "Cmd", strv_json(cfg.cmd),
			"Env", strv_json(cfg.env), "WorkingDir", cfg.working_dir, "User", cfg.user,
			"ExposedPorts", strv_json(cfg.exposed_ports), "Labels", labels,
			"StopSignal", cfg.stop_signal));
		json_array_append_new(all, o);
		oci_config_free(&cfg);
		rootfs_image_free(&img);
	}
	if (json_array_size(all))
		print_json(all);
	rootfs_store_close(s);
	return rc;
}

/* ------------------------------------------------------------ tag, rm, prune */

static int cmd_tag(int argc, char **argv)
{
	struct rootfs_store *s = NULL;
	struct berr *err = NULL;
	struct rootfs_digest m;
	int r;

	if (argc != 3) {
		image_usage(argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) ? stdout : stderr);
		return argc == 2 ? 0 : 2;
	}
	if (open_store(&s) < 0)
		return 1;
	r = rootfs_store_lock(s, &err);
	if (r == 0)
		r = rootfs_store_resolve(s, argv[1], &m, &err);
	if (r == 0)
		r = rootfs_store_tag(s, argv[2], &m, &err);
	rootfs_store_unlock(s);
	rootfs_store_close(s);
	return r < 0 ? fail(err) : 0;
}

static int cmd_rm(int argc, char **argv)
{
	struct rootfs_store *s = NULL;
	struct berr *err = NULL;
	int rc = 0;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		image_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (open_store(&s) < 0)
		return 1;
	if (rootfs_store_lock(s, &err) < 0) {
		rootfs_store_close(s);
		return fail(err);
	}
	for (int i = 1; i < argc; i++) {
		if (rootfs_store_remove(s, argv[i], &err) < 0) {
			log_error("%s", berr_msg(err));
			berr_clear(&err);
			rc = 1;
		} else if (!cli.json) {
			printf("removed %s\n", argv[i]);
		}
	}
	rootfs_store_unlock(s);
	rootfs_store_close(s);
	return rc;
}

/* "30d", "12h", "90m", "3600s", "2w", "3600" (seconds) -> seconds > 0 */
static int parse_duration(const char *s, int64_t *out)
{
	static const struct { const char *suffix; int64_t mult; } units[] = {
		{ "", 1 }, { "s", 1 }, { "m", 60 }, { "h", 3600 }, { "d", 86400 }, { "w", 7 * 86400 },
	};
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || errno != 0 || v == 0)
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (!strcmp(end, units[i].suffix)) {
			if (v > (unsigned long long)INT64_MAX / (unsigned long long)units[i].mult)
				return -1;
			*out = (int64_t)v * units[i].mult;
			return 0;
		}
	return -1;
}

/* "0", "500MB", "10G", "2GiB", "1024k", "123" (bytes): decimal units as
 * docker prints sizes, binary ones with "i" */
static int parse_size(const char *s, uint64_t *out)
{
	static const struct { const char *suffix; uint64_t mult; } units[] = {
		{ "", 1 }, { "b", 1 }, { "k", 1000 }, { "kb", 1000 }, { "kib", 1024 },
		{ "m", 1000000 }, { "mb", 1000000 }, { "mib", 1 << 20 },
		{ "g", 1000000000 }, { "gb", 1000000000 }, { "gib", 1 << 30 },
		{ "t", 1000000000000ULL }, { "tb", 1000000000000ULL }, { "tib", 1ULL << 40 },
	};
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || errno != 0)
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (!strcasecmp(end, units[i].suffix)) {
			if (v > UINT64_MAX / units[i].mult)
				return -1;
			*out = v * units[i].mult;
			return 0;
		}
	return -1;
}

static int cmd_prune(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "older-than", required_argument, NULL, 'o' },
		{ "budget", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct rootfs_store *s = NULL;
	struct rootfs_prune_stats st;
	struct rootfs_prune_opts po = { 0 };
	struct berr *err = NULL;
	char size[32], kept[32], budget[32];
	int r, c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			if (parse_duration(optarg, &po.older_than) < 0) {
				log_error("prune --older-than %s: want a duration such as 30d, 12h, 90m, 3600s or 2w",
					  optarg);
				return 2;
			}
			break;
		case 'b':
			if (parse_size(optarg, &po.budget) < 0) {
				log_error("prune --budget %s: want a size such as 500MB, 10G or 2GiB", optarg);
				return 2;
			}
			po.has_budget = true;
			break;
		case 'h':
			image_usage(stdout);
			return 0;
		default:
			image_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		log_error("prune: unexpected argument %s", argv[optind]);
		return 2;
	}
	if (open_store(&s) < 0)
		return 1;
	r = rootfs_store_lock(s, &err);
	if (r == 0)
		r = rootfs_store_prune_opts(s, &po, &st, &err);
	rootfs_store_unlock(s);
	rootfs_store_close(s);
	if (r < 0)
		return fail(err);
	if (cli.json) {
		cleanup_json json_t *o = json_pack("{s:I, s:I, s:I, s:I}", "images", (json_int_t)st.images,
						   "layers", (json_int_t)st.layers, "blobs", (json_int_t)st.blobs,
						   "bytes", (json_int_t)st.bytes);

		if (po.has_budget) {
			json_object_set_new(o, "keptBytes", json_integer((json_int_t)st.kept_bytes));
			json_object_set_new(o, "overBudget", json_boolean(st.over_budget));
		}
		print_json(o);
	} else {
		cli_human_size(st.bytes, size, sizeof(size));
		printf("removed %zu image%s, %zu layer%s, %zu blob%s: %s freed\n", st.images,
		       st.images == 1 ? "" : "s", st.layers, st.layers == 1 ? "" : "s", st.blobs,
		       st.blobs == 1 ? "" : "s", size);
		if (po.has_budget) {
			cli_human_size(st.kept_bytes, kept, sizeof(kept));
			cli_human_size(po.budget, budget, sizeof(budget));
			printf("%s kept of a %s budget%s\n", kept, budget,
			       st.over_budget ? ": over it, the rest is leased by running tasks" : "");
		}
	}
	return 0;
}

/* ------------------------------------------------------------ mount */

/* Lease holder and state directory of a mount: named after the target. */
static char *mount_holder(const char *target)
{
	struct rootfs_digest d;

	rootfs_sha256_buf(target, strlen(target), &d);
	return xasprintf("mount-%.16s", d.hex);
}

static int cmd_mount(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rw", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *rw = NULL;
	struct rootfs_store *s = NULL;
	struct rootfs_image img = { 0 };
	struct berr *err = NULL;
	struct rootfs_digest m;
	cleanup_free char *holder = NULL, *state = NULL, *nested = NULL, *upper = NULL, *work = NULL;
	cleanup_free char *rwabs = NULL;
	char target[PATH_MAX];
	const char **lowers = NULL;
	int c, r;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'w': rw = optarg; break;
		case 'h': image_usage(stdout); return 0;
		default: return 2;
		}
	}
	if (optind + 2 != argc) {
		log_error("image mount: give REF and TARGET (see berth image --help)");
		return 2;
	}
	if (realpath(argv[optind + 1], target) == NULL) {
		log_error("image mount: target %s: %m", argv[optind + 1]);
		return 1;
	}
	if (open_store(&s) < 0)
		return 1;
	holder = mount_holder(target);
	state = xasprintf("%s/mounts/%s", cli.root, holder);
	nested = xasprintf("%s/lower", state);
	r = rootfs_store_lock(s, &err);
	if (r == 0)
		r = rootfs_store_resolve(s, argv[optind], &m, &err);
	if (r == 0)
		r = rootfs_store_get_image(s, &m, &img, &err);
	if (r == 0)
		r = fs_mkdir_p(state, 0700, &err);
	if (r == 0)
		r = rootfs_store_lease(s, holder, &m, &err);
	if (r < 0)
		goto out;
	lowers = xcalloc(img.n_layers, sizeof(*lowers));
	for (size_t i = 0; i < img.n_layers; i++)   /* overlayfs wants the top layer first */
		lowers[i] = rootfs_store_layer_path(s, &img.layers[img.n_layers - 1 - i].chain);
	if (rw) {
		rwabs = realpath(rw, NULL);
		if (rwabs == NULL && fs_mkdir_p(rw, 0700, &err) == 0)
			rwabs = realpath(rw, NULL);
		if (rwabs == NULL) {
			r = berr_set(&err, errno, "image mount: --rw %s", rw);
			goto fail;
		}
		upper = xasprintf("%s/upper", rwabs);
		work = xasprintf("%s/work", rwabs);
	}
	{
		struct rootfs_overlay_spec sp = {
			.lowers = lowers, .n_lowers = img.n_layers, .upper = upper, .work = work,
			.target = target, .readonly = rw == NULL, .nested_dir = nested,
		};

		r = rootfs_overlay_mount(&sp, &err);
	}
	if (r < 0)
		goto fail;
	if (!cli.json)
		printf("mounted %s on %s%s\n", argv[optind], target, rw ? "" : " (read-only)");
	goto out;
fail:
	{
		struct berr *e2 = NULL;

		rootfs_store_release(s, holder, &e2);
		berr_free(e2);
		rmdir(nested);
		rmdir(state);
	}
out:
	if (lowers)
		for (size_t i = 0; i < img.n_layers; i++)
			free((char *)lowers[i]);
	free(lowers);
	rootfs_image_free(&img);
	rootfs_store_unlock(s);
	rootfs_store_close(s);
	return r < 0 ? fail(err) : 0;
}

static int cmd_umount(int argc, char **argv)
{
	struct rootfs_store *s = NULL;
	struct berr *err = NULL;
	cleanup_free char *holder = NULL, *state = NULL, *nested = NULL;
	char target[PATH_MAX];
	int r;

	if (argc != 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		image_usage(argc == 2 ? stdout : stderr);
		return argc == 2 ? 0 : 2;
	}
	if (realpath(argv[1], target) == NULL) {
		log_error("image umount: %s: %m", argv[1]);
		return 1;
	}
	holder = mount_holder(target);
	state = xasprintf("%s/mounts/%s", cli.root, holder);
	nested = xasprintf("%s/lower", state);
	if (access(state, F_OK) < 0) {
		log_error("image umount: %s was not mounted by berth image mount", target);
		return 1;
	}
	r = rootfs_overlay_umount(target, nested, &err);
	if (r < 0)
		return fail(err);
	rmdir(nested);
	rmdir(state);
	if (open_store(&s) < 0)
		return 1;
	r = rootfs_store_lock(s, &err);
	if (r == 0)
		r = rootfs_store_release(s, holder, &err);
	rootfs_store_unlock(s);
	rootfs_store_close(s);
	return r < 0 ? fail(err) : 0;
}

int cli_image(int argc, char **argv)
{
	const char *sub;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		image_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	sub = argv[1];
	argc--;
	argv++;
	if (!strcmp(sub, "import") || !strcmp(sub, "load"))
		return cmd_import(argc, argv);
	if (!strcmp(sub, "pull"))
		return cmd_pull(argc, argv);
	if (!strcmp(sub, "ls") || !strcmp(sub, "list"))
		return cmd_ls(argc, argv);
	if (!strcmp(sub, "inspect"))
		return cmd_inspect(argc, argv);
	if (!strcmp(sub, "tag"))
		return cmd_tag(argc, argv);
	if (!strcmp(sub, "rm") || !strcmp(sub, "remove"))
		return cmd_rm(argc, argv);
	if (!strcmp(sub, "prune"))
		return cmd_prune(argc, argv);
	if (!strcmp(sub, "mount"))
		return cmd_mount(argc, argv);
	if (!strcmp(sub, "umount") || !strcmp(sub, "unmount"))
		return cmd_umount(argc, argv);
	log_error("image: unknown command \"%s\" (see berth image --help)", sub);
	return 2;
}
