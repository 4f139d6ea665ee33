/* berth-bench-lb-http: ns per request of lb/http.c's request-head parser
 * (one call per head, as when a whole request arrives in one read), for a
 * typical ~400-byte browser request and a 10-header API request, and the
 * same browser request fed in 64-byte pieces (resumed parsing).
 *
 *     build/tests/bench/berth-bench-lb-http [iterations]
 *
 * Each figure is the best of 7 rounds (a shared host's noise only ever adds
 * time). Build in Release (-O2) for figures that mean anything. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lb/http.h"

static const char browser[] =
	"GET /assets/js/app.min.js?v=20261121 HTTP/1.1\r\n"
	"Host: www.example.com\r\n"
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0\r\n"
	"Accept: */*\r\n"
	"Accept-Language: en-US,en;q=0.5\r\n"
	"Accept-Encoding: gzip, deflate, br, zstd\r\n"
	"Referer: https://www.example.com/products/index.html\r\n"
	"Connection: keep-alive\r\n"
	"Cookie: session=4f2a9c81d7e3b6a05c1e; theme=dark\r\n"
	"Sec-Fetch-Dest: script\r\n"
	"\r\n";

static const char api[] =
	"POST /v1/orders?dryRun=false HTTP/1.1\r\n"
	"Host: api.example.com\r\n"
	"Content-Type: application/json\r\n"
	"Content-Length: 128\r\n"
	"Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl\r\n"
	"Accept: application/json\r\n"
	"User-Agent: berth-client/1.0\r\n"
	"X-Request-Id: 6f1c2b7e-9a4d-4c3b-8e2f-1d0a5b6c7e8f\r\n"
	"X-Forwarded-For: 203.0.113.7\r\n"
	"Accept-Encoding: gzip\r\n"
	"Connection: keep-alive\r\n"
	"\r\n";

static struct lb_http_head head;

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double run1(const char *req, size_t len, size_t piece, long iters)
{
	struct lb_http_parser p;
	unsigned long sink = 0;
	double t0 = now_ns();

	for (long i = 0; i < iters; i++) {
		int r = LB_HTTP_MORE;

		lb_http_request_parser_init(&p, NULL);
		for (size_t have = piece < len ? piece : len; r == LB_HTTP_MORE;
		     have = have + piece < len ? have + piece : len)
			r = lb_http_parse(&p, req, have, &head);
		if (r != LB_HTTP_DONE) {
			fprintf(stderr, "parse failed: %s\n", p.error ? p.error : "incomplete");
			exit(1);
		}
		sink += head.n_headers + head.head_len;
	}
	if (sink == 0)
		fprintf(stderr, "?\n");
	return (now_ns() - t0) / (double)iters;
}

static double run(const char *req, size_t len, size_t piece, long iters)
{
	double best = 1e30;

	for (int round = 0; round < 7; round++) {
		double ns = run1(req, len, piece, iters / 7 + 1);

		if (ns < best)
			best = ns;
	}
	return best;
}

int main(int argc, char **argv)
{
	long iters = argc > 1 ? atol(argv[1]) : 2000000;

	if (iters <= 0)
		iters = 2000000;
	double ns;

	run(browser, sizeof(browser) - 1, sizeof(browser), iters / 10); /* warm up */
	ns = run(browser, sizeof(browser) - 1, sizeof(browser), iters);
	printf("browser request  %4zu bytes, %2u headers: %6.1f ns/request\n", sizeof(browser) - 1,
	       head.n_headers, ns);
	ns = run(api, sizeof(api) - 1, sizeof(api), iters);
	printf("api request      %4zu bytes, %2u headers: %6.1f ns/request\n", sizeof(api) - 1,
	       head.n_headers, ns);
	ns = run(browser, sizeof(browser) - 1, 64, iters);
	printf("browser, 64-byte pieces                  : %6.1f ns/request\n", ns);
	return 0;
}
