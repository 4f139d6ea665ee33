/* runtime/creds/codec.c - see codec.h */
#include "codec.h"

#include "common/xalloc.h"

#include <stdint.h>

static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void creds_base32_encode(const void *data, size_t len, char *out)
{
	const unsigned char *p = data;
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		acc = (acc << 8) | p[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			out[n++] = b32[(acc >> bits) & 31];
		}
		acc &= (1u << bits) - 1;
	}
	if (bits > 0)
		out[n++] = b32[(acc << (5 - bits)) & 31];
	out[n] = '\0';
}

static char *b64_encode(const char *alphabet, bool pad, const void *data, size_t len)
{
	const unsigned char *p = data;
	char *out = xmalloc((len + 2) / 3 * 4 + 1);
	size_t n = 0, i = 0;

	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		out[n++] = alphabet[v >> 18];
		out[n++] = alphabet[(v >> 12) & 63];
		out[n++] = alphabet[(v >> 6) & 63];
		out[n++] = alphabet[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;

		out[n++] = alphabet[v >> 18];
		out[n++] = alphabet[(v >> 12) & 63];
		if (pad) {
			out[n++] = '=';
			out[n++] = '=';
		}
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;

		out[n++] = alphabet[v >> 18];
		out[n++] = alphabet[(v >> 12) & 63];
		out[n++] = alphabet[(v >> 6) & 63];
		if (pad)
			out[n++] = '=';
	}
	out[n] = '\0';
	return out;
}

char *creds_base64_encode(const void *data, size_t len)
{
	return b64_encode(b64, true, data, len);
}

char *creds_base64url_encode(const void *data, size_t len)
{
	return b64_encode(b64url, false, data, len);
}

static int url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

int creds_base64url_decode(const char *s, size_t len, unsigned char *out, size_t *out_len)
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t n = 0;

	/* one character alone carries 6 bits: less than a byte */
	if (len % 4 == 1)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int v = url_value((unsigned char)s[i]);

		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
		}
		acc &= (1u << bits) - 1;
	}
	/* leftover bits must be zero: otherwise two strings decode alike */
	if (acc != 0)
		return -1;
	*out_len = n;
	return 0;
}

bool creds_ct_equal(const void *a, const void *b, size_t n)
{
	const volatile unsigned char *x = a, *y = b;
	unsigned char d = 0;

	for (size_t i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}
