/* runtime/creds/codec.h - the small encodings task credentials are made of.
 *
 * base32 (RFC 4648 alphabet, A-Z 2-7) for access key ids, as AWS's own
 * look; standard base64 for secret keys (AWS secrets use that alphabet);
 * base64url without padding (RFC 4648 section 5) for session tokens, so a
 * token needs no escaping in a header, a query string or a JSON document;
 * and a constant-time comparison for MACs. Kept here rather than in common/
 * (shared by every module) while only credentials need them. */
#ifndef BERTH_RUNTIME_CREDS_CODEC_H
#define BERTH_RUNTIME_CREDS_CODEC_H

#include <stdbool.h>
#include <stddef.h>

/* Base32 of len bytes into out, which holds (len * 8 + 4) / 5 characters
 * and a NUL: only whole 5-bit groups are written when len * 8 is not a
 * multiple of 5 (the last group padded with zero bits), no '=' padding. */
void creds_base32_encode(const void *data, size_t len, char *out);

/* Standard base64 (A-Z a-z 0-9 + /) with '=' padding, xmalloc'd. */
char *creds_base64_encode(const void *data, size_t len);

/* base64url without padding, xmalloc'd. */
char *creds_base64url_encode(const void *data, size_t len);

/* Strict base64url decode of the len characters at s: the url alphabet only,
 * no padding, no whitespace, and canonical (the unused low bits of the last
 * character are zero, so each byte string has exactly one encoding).
 * Writes at most len * 3 / 4 bytes to out, sets *out_len, and returns 0, or
 * -1 when s is not such an encoding (out is then undefined). */
int creds_base64url_decode(const char *s, size_t len, unsigned char *out, size_t *out_len);

/* a[0..n) == b[0..n), in a time that depends on n only. */
bool creds_ct_equal(const void *a, const void *b, size_t n);

#endif
