/* rootfs/inflate.c - see inflate.h */
#include "rootfs/inflate.h"
#include "common/cleanup.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <isa-l/igzip_lib.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

/* Large reads: one syscall per 512 KiB of blob, and igzip runs fastest on
 * long stretches of input. */
#define INBUF (512u << 10)

struct rootfs_inflater {
	int fd;
	enum rootfs_compression comp;
	unsigned char *in;
	size_t in_pos, in_len;   /* unread input is in[in_pos, in_len) */
	bool in_eof;
	uint64_t read_total;     /* bytes read from fd */
	bool done;

	struct inflate_state *gz;
	bool gz_between;         /* a gzip member just ended */
	bool gz_padding;         /* NULs seen after the last member */

	ZSTD_DCtx *zd;
	size_t zlast;            /* last ZSTD_decompressStream result */

	struct berr *pending;    /* an error to report after the data before it */
	int pending_rc;
};

static uint64_t in_offset(const struct rootfs_inflater *z)
{
	return z->read_total - (z->in_len - z->in_pos);
}

uint64_t rootfs_inflater_consumed(const struct rootfs_inflater *z)
{
	return in_offset(z);
}

enum rootfs_compression rootfs_inflater_format(const struct rootfs_inflater *z)
{
	return z->comp;
}

/* Append up to `room` bytes from the fd after in_len. 0 at EOF. */
static ssize_t read_in(struct rootfs_inflater *z, unsigned char *dst, size_t room,
		       struct berr **err)
{
	ssize_t n;

	do
		n = read(z->fd, dst, room);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return berr_set(err, errno, "read layer blob");
	if (n == 0)
		z->in_eof = true;
	z->read_total += (uint64_t)n;
	return n;
}

/* Refill the (fully consumed) input buffer. */
static int refill(struct rootfs_inflater *z, struct berr **err)
{
	ssize_t n;

	if (z->in_eof)
		return 0;
	z->in_pos = z->in_len = 0;
	n = read_in(z, z->in, INBUF, err);
	if (n < 0)
		return (int)n;
	z->in_len = (size_t)n;
	return 0;
}

/* ------------------------------------------------------------------ gzip */

static const char *isal_error(int r)
{
	switch (r) {
	case ISAL_INVALID_BLOCK:
		return "invalid deflate block";
	case ISAL_INVALID_SYMBOL:
		return "invalid deflate symbol";
	case ISAL_INVALID_LOOKBACK:
		return "invalid back-reference distance";
	case ISAL_INVALID_WRAPPER:
		return "not a gzip header";
	case ISAL_UNSUPPORTED_METHOD:
		return "unsupported compression method";
	case ISAL_INCORRECT_CHECKSUM:
		return "CRC mismatch";
	default:
		return "decoder error";
	}
}

/* After a member: another member, NUL padding, or the end. 0 to go on
 * (z->done set at the end), negative on trailing garbage. */
static int gz_next_member(struct rootfs_inflater *z, struct berr **err)
{
	for (;;) {
		int ret;

		if (z->in_pos == z->in_len) {
			if (z->in_eof) {
				z->done = true;
				return 0;
			}
			ret = refill(z, err);
			if (ret < 0)
				return ret;
			continue;
		}
		if (z->in[z->in_pos] == 0) {
			z->gz_padding = true;
			while (z->in_pos < z->in_len && z->in[z->in_pos] == 0)
				z->in_pos++;
			continue;
		}
		if (z->gz_padding || z->in[z->in_pos] != 0x1f)
			return berr_set(err, 0, "gzip layer: unexpected data after the end of the gzip stream, at compressed byte %llu",
					(unsigned long long)in_offset(z));
		isal_inflate_reset(z->gz);
		z->gz->crc_flag = ISAL_GZIP;
		z->gz_between = false;
		return 0;
	}
}

static int gz_read(struct rootfs_inflater *z, unsigned char *out, size_t cap, size_t *produced,
		   struct berr **err)
{
	struct inflate_state *s = z->gz;
	size_t done = 0;
	int ret = 0;

	*produced = 0;

	while (done < cap && !z->done) {
		if (z->gz_between) {
			ret = gz_next_member(z, err);
			if (ret < 0)
				break;
			continue;
		}
		if (z->in_pos == z->in_len) {
			ret = refill(z, err);
			if (ret < 0)
				break;
		}
		size_t pos0 = z->in_pos, done0 = done;

		s->next_in = z->in + z->in_pos;
		s->avail_in = (uint32_t)(z->in_len - z->in_pos);
		s->next_out = out + done;
		s->avail_out = (uint32_t)(cap - done);
		ret = isal_inflate(s);
		z->in_pos = (size_t)(s->next_in - z->in);
		done = (size_t)(s->next_out - out);
		/* never spin on input the decoder will not take */
		if (ret >= 0 && s->block_state != ISAL_BLOCK_FINISH && z->in_pos == pos0 &&
		    done == done0 && pos0 < z->in_len)
			ret = ISAL_INVALID_BLOCK;
		if (ret < 0) {
			ret = berr_set(err, 0, "gzip layer: corrupt data at compressed byte %llu (%s)",
				       (unsigned long long)in_offset(z), isal_error(ret));
			break;
		}
		if (s->block_state == ISAL_BLOCK_FINISH) {
			/* igzip hands back the input it read past the member */
			z->gz_between = true;
			continue;
		}
		if (done < cap && z->in_pos == z->in_len && z->in_eof) {
			ret = berr_set(err, 0, "gzip layer: truncated: the compressed stream ends at byte %llu before the end of its data",
				       (unsigned long long)in_offset(z));
			break;
		}
	}
	*produced = done;
	return ret < 0 ? ret : 0;
}

/* ------------------------------------------------------------------ zstd */

static int zstd_read(struct rootfs_inflater *z, unsigned char *out, size_t cap,
		     size_t *produced, struct berr **err)
{
	ZSTD_outBuffer ob = { out, cap, 0 };
	int ret = 0;

	while (ob.pos < ob.size && !z->done) {
		ZSTD_inBuffer ib;
		size_t r;

		if (z->in_pos == z->in_len) {
			ret = refill(z, err);
			if (ret < 0)
				break;
		}
		/* 0 from the decoder: the frame is decoded and flushed */
		if (z->in_pos == z->in_len && z->in_eof && z->zlast == 0) {
			z->done = true;
			break;
		}
		ib = (ZSTD_inBuffer){ z->in, z->in_len, z->in_pos };
		r = ZSTD_decompressStream(z->zd, &ob, &ib);
		z->in_pos = ib.pos;
		if (ZSTD_isError(r)) {
			ret = berr_set(err, 0, "zstd layer: corrupt data at compressed byte %llu (%s)",
				       (unsigned long long)in_offset(z), ZSTD_getErrorName(r));
			break;
		}
		z->zlast = r;
		/* output not full: the decoder flushed everything this input gives */
		if (ob.pos < ob.size && z->in_pos == z->in_len && z->in_eof) {
			if (r != 0) {
				ret = berr_set(err, 0, "zstd layer: truncated: the compressed stream ends at byte %llu inside a frame",
					       (unsigned long long)in_offset(z));
				break;
			}
			z->done = true;
		}
	}
	*produced = ob.pos;
	return ret;
}

/* ------------------------------------------------------------------ none */

static int none_read(struct rootfs_inflater *z, unsigned char *out, size_t cap, size_t *produced,
		     struct berr **err)
{
	size_t done = 0;

	*produced = 0;

	/* first what the format sniffing read, then straight into out */
	if (z->in_pos < z->in_len) {
		size_t k = z->in_len - z->in_pos < cap ? z->in_len - z->in_pos : cap;

		memcpy(out, z->in + z->in_pos, k);
		z->in_pos += k;
		done = k;
	}
	while (done < cap && !z->in_eof) {
		ssize_t n = read_in(z, out + done, cap - done, err);

		if (n < 0) {
			*produced = done;
			return (int)n;
		}
		done += (size_t)n;
	}
	/* keep in_offset() right: nothing is buffered on this path */
	z->in_pos = z->in_len = 0;
	if (done == 0)
		z->done = true;
	*produced = done;
	return 0;
}

/* ---------------------------------------------------------------- public */

static int give_err(struct berr **err, struct berr *e, int ret)
{
	if (err) {
		berr_free(*err);
		*err = e;
	} else {
		berr_free(e);
	}
	return ret;
}

ssize_t rootfs_inflater_read(struct rootfs_inflater *z, void *out, size_t cap, struct berr **err)
{
	struct berr *e = NULL;
	size_t n = 0;
	int ret;

	if (z->pending)
		return give_err(err, steal_pointer(&z->pending), z->pending_rc);
	if (z->done || cap == 0)
		return 0;
	switch (z->comp) {
	case ROOTFS_COMP_GZIP:
		ret = gz_read(z, out, cap, &n, &e);
		break;
	case ROOTFS_COMP_ZSTD:
		ret = zstd_read(z, out, cap, &n, &e);
		break;
	default:
		ret = none_read(z, out, cap, &n, &e);
		break;
	}
	if (ret < 0 && n > 0) {
		/* hand out what was decoded before the error, then the error: the
		 * tar reader can then say which entry the stream broke in */
		z->pending = e;
		z->pending_rc = ret;
		return (ssize_t)n;
	}
	if (ret < 0)
		return give_err(err, e, ret);
	return (ssize_t)n;
}

static bool is_zstd_magic(const unsigned char *b, size_t n)
{
	if (n < 4)
		return false;
	if (b[0] == 0x28 && b[1] == 0xb5 && b[2] == 0x2f && b[3] == 0xfd)
		return true;
	/* a skippable frame, 0x184D2A5? little-endian */
	return (b[0] & 0xf0) == 0x50 && b[1] == 0x2a && b[2] == 0x4d && b[3] == 0x18;
}

int rootfs_inflater_new(int fd, enum rootfs_compression comp, struct rootfs_inflater **out,
			struct berr **err)
{
	struct rootfs_inflater *z = xzalloc(sizeof(*z));
	const unsigned char *b;

	z->fd = fd;
	z->in = xmalloc(INBUF);
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);

	/* enough bytes to tell the formats apart (a pipe may give fewer) */
	while (z->in_len < 10 && !z->in_eof) {
		ssize_t n = read_in(z, z->in + z->in_len, INBUF - z->in_len, err);

		if (n < 0) {
			rootfs_inflater_free(z);
			return (int)n;
		}
		z->in_len += (size_t)n;
	}
	b = z->in;
	if (comp == ROOTFS_COMP_DETECT) {
		if (z->in_len >= 2 && b[0] == 0x1f && b[1] == 0x8b)
			comp = ROOTFS_COMP_GZIP;
		else if (is_zstd_magic(b, z->in_len))
			comp = ROOTFS_COMP_ZSTD;
		else if (z->in_len >= 6 && memcmp(b, "\xfd" "7zXZ\0", 6) == 0)
			comp = -1;
		else if (z->in_len >= 10 && memcmp(b, "BZh", 3) == 0 && b[3] >= '1' && b[3] <= '9' &&
			 memcmp(b + 4, "1AY&SY", 6) == 0)
			comp = -2;
		else
			comp = ROOTFS_COMP_NONE;
		if ((int)comp < 0) {
			rootfs_inflater_free(z);
			return berr_set(err, 0, "layer is %s-compressed: berth unpacks gzip, zstd and uncompressed layers",
					(int)comp == -1 ? "xz" : "bzip2");
		}
	}
	z->comp = comp;
	switch (comp) {
	case ROOTFS_COMP_GZIP:
		/* the state is ~80 KiB: heap, not stack */
		z->gz = xmalloc(sizeof(*z->gz));
		isal_inflate_init(z->gz);
		z->gz->crc_flag = ISAL_GZIP;   /* parse the header, verify CRC and size */
		break;
	case ROOTFS_COMP_ZSTD:
		/* default window limit (128 MiB, ZSTD_WINDOWLOG_LIMIT_DEFAULT):
		 * a frame asking for more is refused rather than allocated */
		z->zd = ZSTD_createDCtx();
		z->zlast = 1;   /* nothing decoded yet: an empty stream is truncated */
		if (z->zd == NULL) {
			rootfs_inflater_free(z);
			return berr_set(err, ENOMEM, "zstd layer: create decoder");
		}
		break;
	case ROOTFS_COMP_NONE:
		break;
	default:
		rootfs_inflater_free(z);
		return berr_set(err, EINVAL, "layer: unknown compression %d", (int)comp);
	}
	*out = z;
	return 0;
}

void rootfs_inflater_free(struct rootfs_inflater *z)
{
	if (z == NULL)
		return;
	berr_free(z->pending);
	free(z->in);
	free(z->gz);
	ZSTD_freeDCtx(z->zd);
	free(z);
}
