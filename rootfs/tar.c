/* rootfs/tar.c - see tar.h */
#include "rootfs/tar.h"
#include "common/cleanup.h"
#include "common/xalloc.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 512

/* Header field offsets (POSIX ustar; GNU shares them up to 345). */
#define H_NAME     0
#define H_MODE     100
#define H_UID      108
#define H_GID      116
#define H_SIZE     124
#define H_MTIME    136
#define H_CHKSUM   148
#define H_TYPE     156
#define H_LINKNAME 157
#define H_MAGIC    257
#define H_DEVMAJOR 329
#define H_DEVMINOR 337
#define H_PREFIX   345

#define DISP_CAP 256

/* Overrides collected from 'x', 'L' and 'K' headers for the next entry. */
struct meta {
	bool any;
	uint64_t offset;      /* of the first extended header */
	bool has_path, has_link, has_size, has_mtime, has_uid, has_gid;
	char *path, *link;
	uint64_t size, uid, gid;
	struct timespec mtime;
	struct rootfs_tar_xattr *xattrs;
	size_t n_xattrs, cap_xattrs;
};

struct rootfs_tar_reader {
	rootfs_tar_next_fn next;
	void *ctx;
	const unsigned char *p;   /* unconsumed bytes of the current run */
	size_t left;
	uint64_t offset;          /* bytes consumed */
	bool src_eof;

	uint64_t data_left;       /* of the current entry */
	uint64_t pad_left;
	bool in_entry;

	struct rootfs_tar_entry entry;
	char *namebuf, *linkbuf;
	struct meta meta;
	unsigned char *metabuf;
	size_t metacap;
	char disp[DISP_CAP + 16];
};

/* ------------------------------------------------------------- messages */

const char *rootfs_tar_display(const char *name, size_t len, char *buf, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	bool plain = true;
	size_t w = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
			plain = false;
			break;
		}
	}
	if (cap < 16) {
		buf[0] = '\0';
		return buf;
	}
	if (!plain)
		buf[w++] = '"';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		/* leave room for an escape, "..." and the closing quote */
		if (w + 10 >= cap) {
			memcpy(buf + w, "...", 3);
			w += 3;
			break;
		}
		if (plain) {
			buf[w++] = (char)c;
		} else if (c == '"' || c == '\\') {
			buf[w++] = '\\';
			buf[w++] = (char)c;
		} else if (c >= 0x20 && c < 0x7f) {
			buf[w++] = (char)c;
		} else {
			buf[w++] = '\\';
			buf[w++] = 'x';
			buf[w++] = hex[c >> 4];
			buf[w++] = hex[c & 15];
		}
	}
	if (!plain)
		buf[w++] = '"';
	buf[w] = '\0';
	return buf;
}

static const char *disp(struct rootfs_tar_reader *r, const char *name, size_t len)
{
	return rootfs_tar_display(name, len, r->disp, DISP_CAP);
}

/* ---------------------------------------------------------- byte source */

static int fill(struct rootfs_tar_reader *r, struct berr **err)
{
	const unsigned char *p;
	size_t len;
	int ret;

	if (r->left > 0 || r->src_eof)
		return 0;
	ret = r->next(r->ctx, &p, &len, err);
	if (ret < 0)
		return ret;
	if (len == 0) {
		r->src_eof = true;
		return 0;
	}
	r->p = p;
	r->left = len;
	return 0;
}

/* Copy up to n bytes; returns how many (fewer only at the end of the stream). */
static int64_t read_exact(struct rootfs_tar_reader *r, void *dst, size_t n, struct berr **err)
{
	unsigned char *d = dst;
	size_t done = 0;

	while (done < n) {
		size_t k;
		int ret = fill(r, err);

		if (ret < 0)
			return ret;
		if (r->left == 0)
			break;
		k = n - done < r->left ? n - done : r->left;
		memcpy(d + done, r->p, k);
		r->p += k;
		r->left -= k;
		r->offset += k;
		done += k;
	}
	return (int64_t)done;
}

static int64_t skip(struct rootfs_tar_reader *r, uint64_t n, struct berr **err)
{
	uint64_t done = 0;

	while (done < n) {
		uint64_t k;
		int ret = fill(r, err);

		if (ret < 0)
			return ret;
		if (r->left == 0)
			break;
		k = n - done < r->left ? n - done : r->left;
		r->p += k;
		r->left -= (size_t)k;
		r->offset += k;
		done += k;
	}
	return (int64_t)done;
}

uint64_t rootfs_tar_offset(const struct rootfs_tar_reader *r)
{
	return r->offset;
}

/* ------------------------------------------------------------- numbers */

/* A numeric header field: octal text (surrounded by spaces/NULs), or GNU
 * base-256 when the top bit of the first byte is set. */
static bool parse_num(const unsigned char *f, size_t n, int64_t *out)
{
	uint64_t x = 0;
	size_t i = 0, end = n;

	if (f[0] & 0x80) {
		unsigned char inv = (f[0] & 0x40) ? 0xff : 0;

		for (i = 0; i < n; i++) {
			unsigned char c = f[i] ^ inv;

			if (i == 0)
				c &= 0x7f;
			if (x >> 56)
				return false;
			x = x << 8 | c;
		}
		if (x >> 63)
			return false;
		*out = inv ? (int64_t)~x : (int64_t)x;
		return true;
	}
	while (i < end && (f[i] == ' ' || f[i] == '\0'))
		i++;
	while (end > i && (f[end - 1] == ' ' || f[end - 1] == '\0'))
		end--;
	for (; i < end; i++) {
		if (f[i] < '0' || f[i] > '7')
			return false;
		if (x >> 60)
			return false;
		x = x << 3 | (uint64_t)(f[i] - '0');
	}
	*out = (int64_t)x;
	return true;
}

static bool parse_unum(const unsigned char *f, size_t n, uint64_t *out)
{
	int64_t v;

	if (!parse_num(f, n, &v) || v < 0)
		return false;
	*out = (uint64_t)v;
	return true;
}

/* PAX decimal: digits only, no sign. */
static bool pax_uint(const char *s, size_t n, uint64_t *out)
{
	uint64_t x = 0;

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		if (x > (UINT64_MAX - 9) / 10)
			return false;
		x = x * 10 + (uint64_t)(s[i] - '0');
	}
	*out = x;
	return true;
}

/* PAX time: [-]seconds[.fraction]. */
static bool pax_time(const char *s, size_t n, struct timespec *ts)
{
	bool neg = n > 0 && s[0] == '-';
	const char *dot;
	uint64_t sec, nsec = 0;
	size_t ilen, flen;

	if (neg) {
		s++;
		n--;
	}
	dot = memchr(s, '.', n);
	ilen = dot ? (size_t)(dot - s) : n;
	if (!pax_uint(s, ilen, &sec) || sec > INT64_MAX / 2)
		return false;
	if (dot) {
		flen = n - ilen - 1;
		if (flen == 0)
			return false;
		for (size_t i = 0; i < flen; i++) {
			char c = dot[1 + i];

			if (c < '0' || c > '9')
				return false;
			if (i < 9)
				nsec = nsec * 10 + (uint64_t)(c - '0');
		}
		for (size_t i = flen; i < 9; i++)
			nsec *= 10;
	}
	if (!neg) {
		ts->tv_sec = (time_t)sec;
		ts->tv_nsec = (long)nsec;
	} else if (nsec == 0) {
		ts->tv_sec = -(time_t)sec;
		ts->tv_nsec = 0;
	} else {
		/* -1.25 is 1.25 s before the epoch: tv_sec -2, tv_nsec 0.75e9 */
		ts->tv_sec = -(time_t)sec - 1;
		ts->tv_nsec = (long)(1000000000 - nsec);
	}
	return true;
}

/* ---------------------------------------------------------------- meta */

static void xattrs_free(struct rootfs_tar_xattr *x, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(x[i].name);
		free(x[i].value);
	}
}

static void meta_reset(struct meta *m)
{
	struct rootfs_tar_xattr *x = m->xattrs;
	size_t cap = m->cap_xattrs;

	free(m->path);
	free(m->link);
	xattrs_free(m->xattrs, m->n_xattrs);
	memset(m, 0, sizeof(*m));
	/* keep the array for the next entry */
	m->xattrs = x;
	m->cap_xattrs = cap;
}

/* Takes ownership of name and value. A later record for the same name wins
 * (bsdtar writes every xattr twice, as SCHILY and LIBARCHIVE records). */
static void meta_add_xattr(struct meta *m, char *name, unsigned char *value, size_t len)
{
	for (size_t i = 0; i < m->n_xattrs; i++) {
		if (strcmp(m->xattrs[i].name, name) == 0) {
			free(m->xattrs[i].value);
			free(name);
			m->xattrs[i].value = value;
			m->xattrs[i].len = len;
			return;
		}
	}
	if (m->n_xattrs == m->cap_xattrs) {
		m->cap_xattrs = m->cap_xattrs ? 2 * m->cap_xattrs : 4;
		m->xattrs = xreallocarray(m->xattrs, m->cap_xattrs, sizeof(*m->xattrs));
	}
	m->xattrs[m->n_xattrs++] = (struct rootfs_tar_xattr){ name, value, len };
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* libarchive writes the xattr name URL-encoded (%XX). */
static char *url_decode(const char *s, size_t n)
{
	char *out = xmalloc(n + 1);
	size_t w = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			int hi, lo;

			if (i + 2 >= n)
				goto bad;
			hi = hexval(s[i + 1]);
			lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0)
				goto bad;
			out[w++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			out[w++] = s[i];
		}
	}
	out[w] = '\0';
	if (w == 0 || memchr(out, '\0', w))
		goto bad;
	return out;
bad:
	free(out);
	return NULL;
}

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Standard base64, '=' padding optional (libarchive omits it). */
static unsigned char *b64_decode(const char *s, size_t n, size_t *outlen)
{
	unsigned char *out;
	uint32_t acc = 0;
	size_t w = 0;
	int bits = 0;

	while (n > 0 && s[n - 1] == '=')
		n--;
	out = xmalloc(n * 3 / 4 + 1);
	for (size_t i = 0; i < n; i++) {
		int v = b64val(s[i]);

		if (v < 0) {
			free(out);
			return NULL;
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[w++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* leftover bits must be padding: a lone 6-bit group is not valid */
	if (bits >= 6) {
		free(out);
		return NULL;
	}
	*outlen = w;
	return out;
}

static int pax_bad(struct rootfs_tar_reader *r, uint64_t off, const char *why, struct berr **err)
{
	return berr_set(err, 0, "corrupt tar: PAX header at offset %llu: %s",
			(unsigned long long)off, why);
}

static int pax_record(struct rootfs_tar_reader *r, uint64_t off, const char *key, size_t klen,
		      const char *val, size_t vlen, struct berr **err)
{
	struct meta *m = &r->meta;

#define KEY(s) (klen == sizeof(s) - 1 && memcmp(key, s, klen) == 0)
#define PREFIX(s) (klen > sizeof(s) - 1 && memcmp(key, s, sizeof(s) - 1) == 0)
	if (memchr(key, '\0', klen))
		return pax_bad(r, off, "a key contains a NUL byte", err);
	/* an empty value deletes the keyword: the ustar field counts again */
	if (KEY("path")) {
		free(m->path);
		m->path = NULL;
		m->has_path = vlen > 0;
		if (vlen > 0) {
			if (memchr(val, '\0', vlen))
				return berr_set(err, 0, "layer entry %s: name contains a NUL byte",
						disp(r, val, vlen));
			m->path = xstrndup(val, vlen);
		}
	} else if (KEY("linkpath")) {
		free(m->link);
		m->link = NULL;
		m->has_link = vlen > 0;
		if (vlen > 0) {
			if (memchr(val, '\0', vlen))
				return berr_set(err, 0, "corrupt tar: PAX linkpath %s contains a NUL byte",
						disp(r, val, vlen));
			m->link = xstrndup(val, vlen);
		}
	} else if (KEY("size")) {
		m->has_size = vlen > 0;
		if (vlen > 0 && (!pax_uint(val, vlen, &m->size) || m->size > INT64_MAX))
			return pax_bad(r, off, "invalid size", err);
	} else if (KEY("uid")) {
		m->has_uid = vlen > 0;
		if (vlen > 0 && !pax_uint(val, vlen, &m->uid))
			return pax_bad(r, off, "invalid uid", err);
	} else if (KEY("gid")) {
		m->has_gid = vlen > 0;
		if (vlen > 0 && !pax_uint(val, vlen, &m->gid))
			return pax_bad(r, off, "invalid gid", err);
	} else if (KEY("mtime")) {
		m->has_mtime = vlen > 0;
		if (vlen > 0 && !pax_time(val, vlen, &m->mtime))
			return pax_bad(r, off, "invalid mtime", err);
	} else if (PREFIX("SCHILY.xattr.")) {
		const char *name = key + 13;
		size_t nlen = klen - 13;

		/* the key has no NUL (checked above), so the name is all of it */
		meta_add_xattr(m, xstrndup(name, nlen), vlen ? xmemdup(val, vlen) : xmalloc(1), vlen);
	} else if (PREFIX("LIBARCHIVE.xattr.")) {
		char *name = url_decode(key + 17, klen - 17);
		unsigned char *value;
		size_t len = 0;

		if (name == NULL)
			return pax_bad(r, off, "invalid LIBARCHIVE.xattr name", err);
		value = b64_decode(val, vlen, &len);
		if (value == NULL) {
			free(name);
			return pax_bad(r, off, "invalid base64 in a LIBARCHIVE.xattr value", err);
		}
		meta_add_xattr(m, name, value, len);
	} else if (PREFIX("GNU.sparse.")) {
		return pax_bad(r, off, "sparse files are not supported", err);
	}
	/* everything else (atime, ctime, uname, gname, comment, hdrcharset,
	 * SCHILY.acl.*, ...) has no meaning for an image layer */
	return 0;
#undef KEY
#undef PREFIX
}

/* Records "<len> <key>=<value>\n", len counting the whole record. */
static int pax_parse(struct rootfs_tar_reader *r, uint64_t off, const char *buf, size_t n,
		     struct berr **err)
{
	size_t pos = 0;

	while (pos < n) {
		const char *rec = buf + pos, *sp, *eq;
		size_t avail = n - pos, len = 0, i = 0;
		int ret;

		/* GNU tar pads a PAX block with NULs after the last record */
		if (rec[0] == '\0') {
			for (; pos < n; pos++)
				if (buf[pos] != '\0')
					return pax_bad(r, off, "data after the padding", err);
			break;
		}
		while (i < avail && rec[i] >= '0' && rec[i] <= '9') {
			if (len > avail)
				return pax_bad(r, off, "record length out of range", err);
			len = len * 10 + (size_t)(rec[i] - '0');
			i++;
		}
		if (i == 0 || i >= avail || rec[i] != ' ' || len <= i + 1 || len > avail)
			return pax_bad(r, off, "malformed record length", err);
		if (rec[len - 1] != '\n')
			return pax_bad(r, off, "record does not end with a newline", err);
		sp = rec + i + 1;
		eq = memchr(sp, '=', (size_t)(rec + len - 1 - sp));
		if (eq == NULL || eq == sp)
			return pax_bad(r, off, "record without key=value", err);
		ret = pax_record(r, off, sp, (size_t)(eq - sp), eq + 1,
				 (size_t)(rec + len - 1 - (eq + 1)), err);
		if (ret < 0)
			return ret;
		pos += len;
	}
	return 0;
}

/* Read an extended header's data (size bytes plus padding) into metabuf. */
static int read_meta_data(struct rootfs_tar_reader *r, uint64_t off, char type, uint64_t size,
			  struct berr **err)
{
	uint64_t pad = (BLOCK - size % BLOCK) % BLOCK;
	int64_t got;

	if (size > ROOTFS_TAR_MAX_META)
		return berr_set(err, 0, "corrupt tar: '%c' header at offset %llu holds %llu bytes (limit %u)",
				type, (unsigned long long)off, (unsigned long long)size,
				ROOTFS_TAR_MAX_META);
	if (r->metacap < size + 1) {
		r->metacap = (size_t)size + 1;
		r->metabuf = xrealloc(r->metabuf, r->metacap);
	}
	got = read_exact(r, r->metabuf, (size_t)size, err);
	if (got < 0)
		return (int)got;
	if ((uint64_t)got < size)
		goto truncated;
	r->metabuf[size] = '\0';
	got = skip(r, pad, err);
	if (got < 0)
		return (int)got;
	if ((uint64_t)got < pad)
		goto truncated;
	return 0;
truncated:
	return berr_set(err, 0, "truncated tar: the stream ends inside the '%c' header at offset %llu",
			type, (unsigned long long)off);
}

/* GNU 'L'/'K': the name, NUL-terminated and NUL-padded. */
static int gnu_long(struct rootfs_tar_reader *r, uint64_t off, char type, uint64_t size,
		    struct berr **err)
{
	size_t n = (size_t)size;
	char *s;
	int ret;

	ret = read_meta_data(r, off, type, size, err);
	if (ret < 0)
		return ret;
	s = (char *)r->metabuf;
	while (n > 0 && s[n - 1] == '\0')
		n--;
	if (n == 0)
		return berr_set(err, 0, "corrupt tar: empty GNU long %s at offset %llu",
				type == 'L' ? "name" : "link name", (unsigned long long)off);
	if (memchr(s, '\0', n))
		return berr_set(err, 0, "layer entry %s: %s contains a NUL byte", disp(r, s, n),
				type == 'L' ? "name" : "link name");
	if (type == 'L') {
		free(r->meta.path);
		r->meta.path = xstrndup(s, n);
		r->meta.has_path = true;
	} else {
		free(r->meta.link);
		r->meta.link = xstrndup(s, n);
		r->meta.has_link = true;
	}
	return 0;
}

/* ------------------------------------------------------------- headers */

static bool all_zero(const unsigned char *b)
{
	for (size_t i = 0; i < BLOCK; i++)
		if (b[i])
			return false;
	return true;
}

static bool checksum_ok(const unsigned char *b)
{
	uint64_t want;
	uint32_t usum = 0;
	int32_t ssum = 0;

	if (!parse_unum(b + H_CHKSUM, 8, &want))
		return false;
	for (size_t i = 0; i < BLOCK; i++) {
		unsigned char c = (i >= H_CHKSUM && i < H_CHKSUM + 8) ? ' ' : b[i];

		usum += c;
		ssum += (signed char)c;
	}
	/* some old tars summed signed chars */
	return want == usum || (int64_t)want == ssum;
}

static size_t field_len(const unsigned char *f, size_t n)
{
	const unsigned char *z = memchr(f, '\0', n);

	return z ? (size_t)(z - f) : n;
}

/* 1 full block, 0 end of stream before it, negative on error */
static int read_block(struct rootfs_tar_reader *r, unsigned char *b, struct berr **err)
{
	uint64_t off = r->offset;
	int64_t got = read_exact(r, b, BLOCK, err);

	if (got < 0)
		return (int)got;
	if (got == 0)
		return 0;
	if (got < BLOCK)
		return berr_set(err, 0, "truncated tar: the stream ends inside the header at offset %llu",
				(unsigned long long)off);
	return 1;
}

static void entry_clear(struct rootfs_tar_reader *r)
{
	struct rootfs_tar_entry *e = &r->entry;

	xattrs_free(e->xattrs, e->n_xattrs);
	free(e->xattrs);
	memset(e, 0, sizeof(*e));
}

/* Fill r->entry from the header b and the pending overrides. */
static int build_entry(struct rootfs_tar_reader *r, const unsigned char *b, uint64_t off,
		       struct berr **err)
{
	struct rootfs_tar_entry *e = &r->entry;
	struct meta *m = &r->meta;
	bool ustar = memcmp(b + H_MAGIC, "ustar\0", 6) == 0;
	bool gnu = memcmp(b + H_MAGIC, "ustar  \0", 8) == 0;
	char tf = (char)b[H_TYPE];
	int64_t mtime = 0;
	uint64_t v;
	size_t nlen;

	/* name: PAX path / GNU long name, else [prefix/]name */
	if (m->has_path) {
		free(r->namebuf);
		r->namebuf = steal_pointer(&m->path);
	} else {
		size_t plen = ustar ? field_len(b + H_PREFIX, 155) : 0;

		nlen = field_len(b + H_NAME, 100);
		free(r->namebuf);
		r->namebuf = xmalloc(plen + 1 + nlen + 1);
		if (plen) {
			memcpy(r->namebuf, b + H_PREFIX, plen);
			r->namebuf[plen] = '/';
			memcpy(r->namebuf + plen + 1, b + H_NAME, nlen);
			r->namebuf[plen + 1 + nlen] = '\0';
		} else {
			memcpy(r->namebuf, b + H_NAME, nlen);
			r->namebuf[nlen] = '\0';
		}
	}
	free(r->linkbuf);
	if (m->has_link) {
		r->linkbuf = steal_pointer(&m->link);
	} else {
		nlen = field_len(b + H_LINKNAME, 100);
		r->linkbuf = xstrndup((const char *)b + H_LINKNAME, nlen);
	}
	e->name = r->namebuf;
	e->linkname = r->linkbuf;
	e->typeflag = tf;
	e->offset = m->any ? m->offset : off;
	nlen = strlen(e->name);
	if (nlen == 0)
		return berr_set(err, 0, "corrupt tar: entry at offset %llu has an empty name",
				(unsigned long long)e->offset);

#define BAD_FIELD(what) \
	berr_set(err, 0, "layer entry %s: corrupt tar header at offset %llu: invalid %s field", \
		 disp(r, e->name, nlen), (unsigned long long)off, what)
	if (!parse_unum(b + H_MODE, 8, &v))
		return BAD_FIELD("mode");
	e->mode = (uint32_t)(v & 07777);
	if (m->has_uid)
		e->uid = m->uid;
	else if (!parse_unum(b + H_UID, 8, &e->uid))
		return BAD_FIELD("uid");
	if (m->has_gid)
		e->gid = m->gid;
	else if (!parse_unum(b + H_GID, 8, &e->gid))
		return BAD_FIELD("gid");
	if (m->has_mtime) {
		e->mtime = m->mtime;
	} else {
		if (!parse_num(b + H_MTIME, 12, &mtime))
			return BAD_FIELD("mtime");
		e->mtime.tv_sec = (time_t)mtime;
		e->mtime.tv_nsec = 0;
	}
	if (m->has_size)
		e->size = m->size;
	else if (!parse_unum(b + H_SIZE, 12, &e->size))
		return BAD_FIELD("size");
	if (ustar || gnu) {
		if (!parse_unum(b + H_DEVMAJOR, 8, &v))
			return BAD_FIELD("devmajor");
		e->devmajor = (uint32_t)v;
		if (!parse_unum(b + H_DEVMINOR, 8, &v))
			return BAD_FIELD("devminor");
		e->devminor = (uint32_t)v;
	}
#undef BAD_FIELD

	switch (tf) {
	case '0':
	case '7':
		e->type = ROOTFS_TAR_REG;
		break;
	case '\0':
		/* pre-POSIX tars marked directories only by the trailing slash */
		e->type = e->name[nlen - 1] == '/' ? ROOTFS_TAR_DIR : ROOTFS_TAR_REG;
		break;
	case '1':
		e->type = ROOTFS_TAR_HARDLINK;
		break;
	case '2':
		e->type = ROOTFS_TAR_SYMLINK;
		break;
	case '3':
		e->type = ROOTFS_TAR_CHR;
		break;
	case '4':
		e->type = ROOTFS_TAR_BLK;
		break;
	case '5':
		e->type = ROOTFS_TAR_DIR;
		break;
	case '6':
		e->type = ROOTFS_TAR_FIFO;
		break;
	case 'S':
		return berr_set(err, 0, "layer entry %s: sparse files are not supported",
				disp(r, e->name, nlen));
	default:
		if (tf >= 0x20 && tf < 0x7f)
			return berr_set(err, 0, "layer entry %s: unsupported tar entry type '%c'",
					disp(r, e->name, nlen), tf);
		return berr_set(err, 0, "layer entry %s: unsupported tar entry type 0x%02x",
				disp(r, e->name, nlen), (unsigned char)tf);
	}
	/* as Go's archive/tar: these never have data, whatever size says */
	if (e->type != ROOTFS_TAR_REG)
		e->size = 0;
	if (e->size > INT64_MAX)
		return berr_set(err, 0, "layer entry %s: size out of range", disp(r, e->name, nlen));
	e->xattrs = m->xattrs;
	e->n_xattrs = m->n_xattrs;
	m->xattrs = NULL;
	m->n_xattrs = m->cap_xattrs = 0;
	r->data_left = e->size;
	r->pad_left = (BLOCK - e->size % BLOCK) % BLOCK;
	r->in_entry = true;
	return 0;
}

int rootfs_tar_next(struct rootfs_tar_reader *r, struct rootfs_tar_entry **out, struct berr **err)
{
	unsigned char b[BLOCK];
	int64_t got;
	int ret;

	if (r->in_entry) {
		uint64_t rest = r->data_left + r->pad_left;

		got = skip(r, rest, err);
		if (got < 0)
			return berr_wrap(err, "layer entry %s",
					 disp(r, r->entry.name, strlen(r->entry.name)));
		if ((uint64_t)got < rest)
			return berr_set(err, 0, "layer entry %s: truncated tar: the stream ends inside its data",
					disp(r, r->entry.name, strlen(r->entry.name)));
		r->data_left = r->pad_left = 0;
		r->in_entry = false;
	}
	entry_clear(r);
	meta_reset(&r->meta);

	for (;;) {
		uint64_t off = r->offset, size;
		char tf;

		ret = read_block(r, b, err);
		if (ret < 0)
			return ret;
		if (ret == 0 || all_zero(b)) {
			if (ret == 1) {
				/* the end is two zero blocks; one and then EOF is fine too */
				ret = read_block(r, b, err);
				if (ret < 0)
					return ret;
				if (ret == 1 && !all_zero(b))
					return berr_set(err, 0, "corrupt tar: a zero block at offset %llu is followed by data",
							(unsigned long long)off);
			}
			if (r->meta.any)
				return berr_set(err, 0, "truncated tar: the extended header at offset %llu is not followed by an entry",
						(unsigned long long)r->meta.offset);
			return 0;
		}
		if (!checksum_ok(b))
			return berr_set(err, 0, "corrupt tar: header checksum mismatch at offset %llu",
					(unsigned long long)off);
		tf = (char)b[H_TYPE];
		if (tf != 'x' && tf != 'g' && tf != 'L' && tf != 'K') {
			ret = build_entry(r, b, off, err);
			if (ret < 0)
				return ret;
			*out = &r->entry;
			return 1;
		}
		if (!parse_unum(b + H_SIZE, 12, &size))
			return berr_set(err, 0, "corrupt tar: invalid size field in the '%c' header at offset %llu",
					tf, (unsigned long long)off);
		if (tf == 'g') {
			/* global PAX headers: skipped, as containerd does */
			ret = read_meta_data(r, off, tf, size, err);
			if (ret < 0)
				return ret;
			continue;
		}
		if (!r->meta.any) {
			r->meta.any = true;
			r->meta.offset = off;
		}
		if (tf == 'x') {
			ret = read_meta_data(r, off, tf, size, err);
			if (ret < 0)
				return ret;
			ret = pax_parse(r, off, (const char *)r->metabuf, (size_t)size, err);
		} else {
			ret = gnu_long(r, off, tf, size, err);
		}
		if (ret < 0)
			return ret;
	}
}

int rootfs_tar_read(struct rootfs_tar_reader *r, const unsigned char **p, size_t *len,
		    struct berr **err)
{
	size_t n;
	int ret;

	*len = 0;
	if (!r->in_entry || r->data_left == 0)
		return 0;
	ret = fill(r, err);
	if (ret < 0)   /* the decompressor failed: say which entry it was in */
		return berr_wrap(err, "layer entry %s", disp(r, r->entry.name, strlen(r->entry.name)));
	if (r->left == 0)
		return berr_set(err, 0, "layer entry %s: truncated tar: the stream ends inside its data",
				disp(r, r->entry.name, strlen(r->entry.name)));
	n = r->data_left < r->left ? (size_t)r->data_left : r->left;
	*p = r->p;
	*len = n;
	r->p += n;
	r->left -= n;
	r->offset += n;
	r->data_left -= n;
	return 0;
}

int64_t rootfs_tar_drain(struct rootfs_tar_reader *r, struct berr **err)
{
	int64_t total = 0;

	for (;;) {
		int ret = fill(r, err);

		if (ret < 0)
			return ret;
		if (r->left == 0)
			return total;
		total += (int64_t)r->left;
		r->offset += r->left;
		r->p += r->left;
		r->left = 0;
	}
}

struct rootfs_tar_reader *rootfs_tar_reader_new(rootfs_tar_next_fn next, void *ctx)
{
	struct rootfs_tar_reader *r = xzalloc(sizeof(*r));

	r->next = next;
	r->ctx = ctx;
	return r;
}

void rootfs_tar_reader_free(struct rootfs_tar_reader *r)
{
	if (r == NULL)
		return;
	entry_clear(r);
	meta_reset(&r->meta);
	free(r->meta.xattrs);
	free(r->namebuf);
	free(r->linkbuf);
	free(r->metabuf);
	free(r);
}
