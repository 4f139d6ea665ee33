/* lb/flowhash.c - see flowhash.h. */
#include "lb/flowhash.h"

#include <string.h>
#include <sys/socket.h>

/* the 64-bit finalizer of MurmurHash3: every input bit flips each output
 * bit with probability ~1/2, and it is a bijection */
static inline uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static inline uint64_t absorb(uint64_t h, uint64_t w)
{
	return mix(h ^ (w * 0x9e3779b97f4a7c15ULL));
}

static uint64_t word(const uint8_t *p)
{
	uint64_t w;

	memcpy(&w, p, 8);
	return w;
}

uint64_t lb_flow_hash(const struct lb_flow *f, uint64_t seed)
{
	uint64_t h = mix(seed ^ 0x6a09e667f3bcc909ULL);

	h = absorb(h, (uint64_t)f->proto << 48 | (uint64_t)f->sport << 16 | f->dport);
	if (f->family == AF_INET6) {
		h = absorb(h, word(f->src));
		h = absorb(h, word(f->src + 8));
		h = absorb(h, word(f->dst));
		h = absorb(h, word(f->dst + 8));
	} else {
		uint32_t s, d;

		memcpy(&s, f->src, 4);
		memcpy(&d, f->dst, 4);
		h = absorb(h, (uint64_t)s << 32 | d);
	}
	return h;
}

uint64_t lb_flowhash_target_key(int family, const uint8_t addr[16], uint16_t port, uint64_t seed)
{
	uint64_t h = mix(seed ^ 0xbb67ae8584caa73bULL);

	h = absorb(h, (uint64_t)(unsigned)family << 16 | port);
	if (family == AF_INET6) {
		h = absorb(h, word(addr));
		h = absorb(h, word(addr + 8));
	} else {
		uint32_t a;

		memcpy(&a, addr, 4);
		h = absorb(h, a);
	}
	return h;
}

uint64_t lb_flowhash_score(uint64_t flow_hash, uint64_t key)
{
	return mix(flow_hash ^ key);
}

int lb_flowhash_pick(uint64_t flow_hash, const uint64_t *keys, size_t n)
{
	int best = -1;
	uint64_t best_score = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t s = lb_flowhash_score(flow_hash, keys[i]);

		if (best < 0 || s > best_score || (s == best_score && keys[i] > keys[best])) {
			best = (int)i;
			best_score = s;
		}
	}
	return best;
}
