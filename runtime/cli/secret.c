/* runtime/cli/secret.c - `berth secret put|ls|rm`: secrets kept by berthd
 * (BerthV1.PutSecret, ListSecrets, DeleteSecret; docs/cli.md,
 * docs/credentials.md "Secrets").
 *
 * A value never comes from the command line: arguments are visible to every
 * user in ps and /proc/PID/cmdline and land in shell history. put reads it
 * from a file or standard input, sends it, and wipes its copies. */
#include "runtime/cli/cli.h"
#include "runtime/cli/client.h"

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "runtime/creds/secrets.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void secret_usage(FILE *f)
{
	fprintf(f,
		"Usage: berth secret COMMAND\n"
		"\n"
		"Secrets kept by berthd, encrypted at rest, for containerDefinitions[].secrets\n"
		"(valueFrom: the name, or the ARN berth shows; docs/credentials.md).\n"
		"\n"
		"  put NAME (--from-file FILE | --from-stdin) [--trim-newline]\n"
		"      [--description TEXT]\n"
		"                     create or update a secret; the value is the file's or\n"
		"                     standard input's bytes (--trim-newline: without one\n"
		"                     trailing newline), UTF-8, at most 64 KiB, no NUL byte\n"
		"  ls                 list secrets (NAME, VERSION, UPDATED, ARN); never values\n"
		"  rm NAME...         delete secrets (NAME or ARN)\n"
		"\n"
		"The value is never an argument: ps and shell history would show it.\n"
		"Options: --json (the API's response), -h/--help. Exit codes: 0 done, 1 berthd\n"
		"unreachable or it refused, 2 usage, 3 a secret does not exist.\n");
}

static int call(const char *what, const char *op, json_t *req, json_t **resp)
{
	struct client_error e = { 0 };
	int r = client_call_target(client_socket_path(cli.socket), 0, CLIENT_BERTH_PREFIX, op, req,
				   resp, &e);

	if (r < 0)
		return cli_api_fail(what, &e);
	return 0;
}

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

/* Read the whole of fd (at most the value limit and one byte more, so that
 * too much is noticed) into one buffer of final size, never reallocated
 * with a copy left behind. */
static int read_value(int fd, const char *from, char **out, size_t *len)
{
	size_t cap = SECRET_VALUE_MAX + 2, n = 0;
	char *buf = xmalloc(cap);

	for (;;) {
		ssize_t r = read(fd, buf + n, cap - 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			log_error("secret put: read %s: %s", from, strerror(errno));
			explicit_bzero(buf, cap);
			free(buf);
			return CLI_EXIT_USAGE;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > SECRET_VALUE_MAX)
			break;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

static int cmd_put(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "from-file", required_argument, NULL, 'f' },
		{ "from-stdin", no_argument, NULL, 'i' },
		{ "description", required_argument, NULL, 'd' },
		{ "trim-newline", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *file = NULL, *desc = NULL, *name;
	bool from_stdin = false, trim = false;
	cleanup_json json_t *resp = NULL;
	cleanup_berr struct berr *err = NULL;
	char *value = NULL;
	json_t *req;
	size_t len = 0;
	int c, r, fd;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'f': file = optarg; break;
		case 'i': from_stdin = true; break;
		case 'd': desc = optarg; break;
		case 'n': trim = true; break;
		case 'j': cli.json = true; break;
		case 'h': secret_usage(stdout); return 0;
		default: return CLI_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		log_error("secret put: which secret? (berth secret put NAME --from-file FILE)");
		return CLI_EXIT_USAGE;
	}
	if (argc - optind > 1) {
		/* never echo it: it may be the value */
		log_error("secret put: takes one NAME; a value is never given as an argument (ps and "
			  "shell history would show it): use --from-file FILE or --from-stdin");
		return CLI_EXIT_USAGE;
	}
	name = argv[optind];
	if (!file == !from_stdin) {
		log_error("secret put %s: give exactly one of --from-file FILE and --from-stdin (the "
			  "value is never an argument: ps and shell history would show it)", name);
		return CLI_EXIT_USAGE;
	}
	if (file) {
		fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0) {
			log_error("secret put %s: open %s: %s", name, file, strerror(errno));
			return CLI_EXIT_USAGE;
		}
	} else {
		if (isatty(0))
			fprintf(stderr, "berth secret put %s: reading the value from standard input "
				"(end with Ctrl-D)\n", name);
		fd = 0;
	}
	r = read_value(fd, file ? file : "standard input", &value, &len);
	if (fd != 0)
		close(fd);
	if (r)
		return r;
	if (trim && len && value[len - 1] == '\n') {
		value[--len] = '\0';
		if (len && value[len - 1] == '\r')
			value[--len] = '\0';
	}
	if (secret_value_check(value, len, &err) < 0) {
		log_error("secret put %s: the value from %s: %s", name, file ? file : "standard input",
			  berr_msg(err));
		explicit_bzero(value, len);
		free(value);
		return CLI_EXIT_USAGE;
	}
	req = json_pack("{s:s, s:s%}", "name", name, "value", value, len);
	explicit_bzero(value, len);
	free(value);
	if (!req) {
		log_error("secret put %s: the value is not UTF-8 text (berth stores text secrets, "
			  "as Secrets Manager's SecretString)", name);
		return CLI_EXIT_USAGE;
	}
	if (desc)
		json_object_set_new(req, "description", json_string(desc));
	r = call("secret put", "PutSecret", req, &resp);
	/* wipe the request's copy of the value before it is freed */
	{
		json_t *v = json_object_get(req, "value");

		explicit_bzero((char *)json_string_value(v), json_string_length(v));
		json_decref(req);
	}
	if (r)
		return r;
	if (cli.json) {
		cli_print_json(resp);
		return 0;
	}
	{
		cleanup_free char *n = cli_clean(str(resp, "name")), *arn = cli_clean(str(resp, "arn"));
		json_t *ver = json_object_get(resp, "version");

		printf("%s %s (version %lld): %s\n", n,
		       json_is_true(json_object_get(resp, "created")) ? "created" : "updated",
		       json_is_integer(ver) ? (long long)json_integer_value(ver) : 0LL, arn);
	}
	return 0;
}

/* the options of ls and rm: --json, --help. -1 to go on, else the exit code */
static int json_help_opts(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'j') {
			cli.json = true;
			continue;
		}
		if (c == 'h') {
			secret_usage(stdout);
			return 0;
		}
		return CLI_EXIT_USAGE;
	}
	return -1;
}

static int cmd_ls(int argc, char **argv)
{
	static const char *const hdr[] = { "NAME", "VERSION", "UPDATED", "ARN" };
	cleanup_json json_t *all = json_array();
	cleanup_free char *token = NULL;
	struct cli_table *t;
	json_t *v;
	size_t i;
	int c, r;

	if ((c = json_help_opts(argc, argv)) >= 0)
		return c;
	if (optind != argc) {
		log_error("secret ls: takes no arguments");
		return CLI_EXIT_USAGE;
	}
	for (int page = 0; page < 100000; page++) {
		cleanup_json json_t *resp = NULL;
		json_t *req = json_object(), *next;

		if (token)
			json_object_set_new(req, "nextToken", json_string(token));
		r = call("secret ls", "ListSecrets", req, &resp);
		json_decref(req);
		if (r)
			return r;
		json_array_extend(all, json_object_get(resp, "secrets"));
		next = json_object_get(resp, "nextToken");
		free(token);
		token = json_is_string(next) ? xstrdup(json_string_value(next)) : NULL;
		if (!token)
			break;
	}
	if (cli.json) {
		cleanup_json json_t *o = json_pack("{s:O}", "secrets", all);

		cli_print_json(o);
		return 0;
	}
	t = cli_table_new(4, hdr);
	json_array_foreach(all, i, v) {
		cleanup_free char *name = cli_clean(str(v, "name")), *arn = cli_clean(str(v, "arn"));
		cleanup_free char *ver = xasprintf("%lld", (long long)json_integer_value(
							   json_object_get(v, "version")));
		char when[64];
		const char *row[4];

		cli_human_age((int64_t)json_number_value(json_object_get(v, "lastChangedDate")), when,
			      sizeof(when));
		row[0] = name;
		row[1] = ver;
		row[2] = when;
		row[3] = arn;
		cli_table_row(t, row);
	}
	cli_table_print(t, stdout);
	cli_table_free(t);
	return 0;
}

static int cmd_rm(int argc, char **argv)
{
	cleanup_json json_t *out = json_array();
	int c, r, rc = 0;

	if ((c = json_help_opts(argc, argv)) >= 0)
		return c;
	if (optind >= argc) {
		log_error("secret rm: which secret? (berth secret rm NAME...)");
		return CLI_EXIT_USAGE;
	}
	for (int i = optind; i < argc; i++) {
		json_t *resp = NULL;

		r = call("secret rm", "DeleteSecret", json_pack("{s:s}", "name", argv[i]), &resp);
		if (r) {
			/* the first failure's code, after trying every name */
			if (!rc)
				rc = r;
			continue;
		}
		if (!cli.json) {
			cleanup_free char *n = cli_clean(str(resp, "name"));

			printf("%s deleted\n", n);
		}
		json_array_append_new(out, resp);
	}
	if (cli.json) {
		cleanup_json json_t *o = json_pack("{s:O}", "deleted", out);

		cli_print_json(o);
	}
	return rc;
}

int cli_secret(int argc, char **argv)
{
	const char *sub;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		secret_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_EXIT_USAGE : 0;
	}
	sub = argv[1];
	argc--;
	argv++;
	if (!strcmp(sub, "put") || !strcmp(sub, "set"))
		return cmd_put(argc, argv);
	if (!strcmp(sub, "ls") || !strcmp(sub, "list"))
		return cmd_ls(argc, argv);
	if (!strcmp(sub, "rm") || !strcmp(sub, "remove") || !strcmp(sub, "delete"))
		return cmd_rm(argc, argv);
	log_error("secret: unknown command \"%s\" (see berth secret --help)", sub);
	return CLI_EXIT_USAGE;
}
