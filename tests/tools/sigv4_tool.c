/* berth-sigv4-tool - berthd's HTTP parser and SigV4 check from shell.
 *
 * Reads raw HTTP from stdin (one request, or several pipelined with --all),
 * parses each with runtime/daemon/http.c (fed in small pieces, as a socket
 * delivers them) and verifies its signature with runtime/daemon/sigv4.c.
 * One line per request on stdout:
 *   OK <access key id> <region>
 *   FAIL <exception type>: <message>
 *   HTTP <status>: <parser error>
 * Exit status: 0 all OK, 1 a FAIL or HTTP line, 2 usage or I/O error.
 * tests/tools/sigv4_botocore_test.py drives it with requests botocore signed. */
#include "common/cleanup.h"
#include "common/error.h"
#include "common/fsutil.h"
#include "common/xalloc.h"
#include "runtime/daemon/http.h"
#include "runtime/daemon/sigv4.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage_text[] =
	"usage: berth-sigv4-tool [--key ID:SECRET]... [--service NAME] [--skew SECONDS]\n"
	"                        [--now EPOCH] [--chunk BYTES] [--all] < request\n"
	"  --key      an accepted access key (repeatable)\n"
	"  --service  the credential scope's service (default ecs)\n"
	"  --skew     allowed X-Amz-Date distance from now in seconds (default 300)\n"
	"  --now      the time to check against (default: the clock)\n"
	"  --chunk    feed the parser this many bytes at a time (default 7)\n"
	"  --all      verify every pipelined request on stdin, not just the first\n";

static long long num(const char *s, const char *what)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || end == s) {
		fprintf(stderr, "berth-sigv4-tool: bad %s '%s'\n", what, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "service", required_argument, NULL, 's' },
		{ "skew", required_argument, NULL, 'w' },
		{ "now", required_argument, NULL, 'n' },
		{ "chunk", required_argument, NULL, 'c' },
		{ "all", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct berthd_key *keys = NULL;
	size_t n_keys = 0, chunk = 7, off = 0, len = 0;
	const char *service = "ecs";
	long long skew = 300;
	time_t now = time(NULL);
	bool all = false;
	int opt, status = 0;
	cleanup_free char *in = NULL;
	struct berr *err = NULL;
	struct http_parser p;
	static struct http_request req;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'k': {
			const char *colon = strchr(optarg, ':');

			if (!colon || colon == optarg) {
				fprintf(stderr, "berth-sigv4-tool: --key wants ID:SECRET\n");
				return 2;
			}
			keys = xreallocarray(keys, n_keys + 1, sizeof(*keys));
			keys[n_keys].access_key_id = xstrndup(optarg, (size_t)(colon - optarg));
			keys[n_keys].secret_access_key = xstrdup(colon + 1);
			n_keys++;
			break;
		}
		case 's':
			service = optarg;
			break;
		case 'w':
			skew = num(optarg, "--skew");
			break;
		case 'n':
			now = (time_t)num(optarg, "--now");
			break;
		case 'c':
			chunk = (size_t)num(optarg, "--chunk");
			if (chunk == 0)
				chunk = 1;
			break;
		case 'a':
			all = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			fputs(usage_text, stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fputs(usage_text, stderr);
		return 2;
	}
	if (fs_read_all(0, &in, &len, 16 << 20, &err) < 0) {
		fprintf(stderr, "berth-sigv4-tool: read stdin: %s\n", berr_msg(err));
		berr_free(err);
		return 2;
	}

	if (len == 0) {
		printf("HTTP 400: no request on stdin\n");
		return 1;
	}
	http_parser_init(&p, NULL);
	while (off < len) {
		enum http_parse_result r = HTTP_PARSE_MORE;
		struct sigv4_result res;
		size_t have = 0;

		/* the bytes of this request as they would arrive, a chunk at a time */
		while (r == HTTP_PARSE_MORE && have < len - off) {
			have = have + chunk > len - off ? len - off : have + chunk;
			r = http_parse(&p, in + off, have, &req);
		}
		if (r == HTTP_PARSE_MORE) {
			printf("HTTP 400: incomplete request (%zu bytes, then end of input)\n", have);
			status = 1;
			break;
		}
		if (r == HTTP_PARSE_ERROR) {
			printf("HTTP %d: %s\n", p.status, p.error);
			status = 1;
			break;
		}
		if (sigv4_verify(&req, keys, n_keys, service, skew, now, &res) == 0) {
			printf("OK %s %s\n", res.access_key_id, res.region);
		} else {
			printf("FAIL %s: %s\n", res.type, res.message);
			status = 1;
		}
		off += req.consumed;
		http_parser_reset(&p);
		if (!all)
			break;
	}
	for (size_t i = 0; i < n_keys; i++) {
		free(keys[i].access_key_id);
		free(keys[i].secret_access_key);
	}
	free(keys);
	return status;
}
