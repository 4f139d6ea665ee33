/* tests/fuzz/lb_fuzz.h - what the two berth-lb HTTP harnesses share
 * (fuzz_lb_http_request.c, fuzz_lb_http_response.c): the split points, the
 * span check, and the chunked decoder fed in pieces against one call. */
#ifndef BERTH_TESTS_FUZZ_LB_FUZZ_H
#define BERTH_TESTS_FUZZ_LB_FUZZ_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lb/http.h"

static uint32_t rng;

/* the next piece's length, 1..max, from the input-seeded generator */
static inline size_t next_piece(size_t max)
{
	rng = rng * 1103515245u + 12345u;
	return max ? 1 + (rng >> 16) % max : 1;
}

static inline bool inside(struct lb_http_span s, uint32_t len)
{
	return s.off <= len && s.len <= len - s.off;
}

/* Frame a chunked body at in[0..n) in random pieces (each a fresh heap
 * copy) and in one call: the same verdict and length, and an error is
 * error_status with a message. Returns the bytes of the body, 0 if it did
 * not end. response: the decoder's response mode. */
static inline size_t check_chunked(const char *in, size_t n, const struct lb_http_limits *lim, bool response,
				   int error_status)
{
	struct lb_http_chunked c, c1;
	size_t off = 0, used, used1;
	int r = LB_HTTP_MORE, r1;

	lb_http_chunked_init(&c, lim, response);
	while (r == LB_HTTP_MORE && off < n) {
		size_t len = next_piece(n - off);
		char *piece = malloc(len);

		if (!piece)
			abort();
		memcpy(piece, in + off, len);
		r = lb_http_chunked_parse(&c, piece, len, &used);
		free(piece);
		if (used > len || (r == LB_HTTP_MORE && used != len))
			abort();
		off += used;
	}
	lb_http_chunked_init(&c1, lim, response);
	r1 = lb_http_chunked_parse(&c1, in, n, &used1);
	if (r1 != r || (r == LB_HTTP_DONE && used1 != off))
		abort();
	if (r == LB_HTTP_ERROR && (c.status != error_status || !c.error || c1.status != error_status))
		abort();
	return r == LB_HTTP_DONE ? off : 0;
}

#endif
