/*
 * iovec helpers: length, copy to/from flat buffers, advance, compare, memset.
 *
 * Every walker treats a NULL array or a count <= 0 as an empty list, so callers
 * may pass (NULL, 0) without special cases. Zero-length entries are legal
 * anywhere in a list and are simply stepped over.
 */
#include <errno.h>
#include <string.h>

#include "spio/util.h"

size_t spio_iov_length(const struct iovec *iov, int iovcnt)
{
	size_t total = 0;

	if (iov == NULL) {
		return 0;
	}
	for (int i = 0; i < iovcnt; i++) {
		total += iov[i].iov_len;
	}
	return total;
}

size_t spio_copy_buf_to_iovs(struct iovec *iov, int iovcnt, const void *buf, size_t len)
{
	const uint8_t *src = buf;
	size_t done = 0;

	if (iov == NULL || buf == NULL) {
		return 0;
	}
	for (int i = 0; i < iovcnt && done < len; i++) {
		size_t n = SPIO_MIN(iov[i].iov_len, len - done);

		if (n > 0) {
			memcpy(iov[i].iov_base, src + done, n);
		}
		done += n;
	}
	return done;
}

size_t spio_copy_iovs_to_buf(void *buf, size_t len, const struct iovec *iov, int iovcnt)
{
	uint8_t *dst = buf;
	size_t done = 0;

	if (iov == NULL || buf == NULL) {
		return 0;
	}
	for (int i = 0; i < iovcnt && done < len; i++) {
		size_t n = SPIO_MIN(iov[i].iov_len, len - done);

		if (n > 0) {
			memcpy(dst + done, iov[i].iov_base, n);
		}
		done += n;
	}
	return done;
}

int spio_iov_advance(struct iovec **iov, int *iovcnt, size_t bytes)
{
	struct iovec *v;
	int cnt;

	if (iov == NULL || iovcnt == NULL || *iovcnt < 0 || (*iov == NULL && *iovcnt > 0)) {
		return -EINVAL;
	}
	v = *iov;
	cnt = *iovcnt;
	/* Check first so that a failed call leaves the array untouched. */
	if (bytes > spio_iov_length(v, cnt)) {
		return -EINVAL;
	}

	/* '>=' also skips zero-length entries at the new front: on return the
	 * first entry, if any, has bytes left. */
	while (cnt > 0 && bytes >= v->iov_len) {
		bytes -= v->iov_len;
		v++;
		cnt--;
	}
	if (bytes > 0) {
		v->iov_base = (uint8_t *)v->iov_base + bytes;
		v->iov_len -= bytes;
	}

	*iov = v;
	*iovcnt = cnt;
	return 0;
}

int64_t spio_iov_compare(const struct iovec *a, int acnt, const struct iovec *b, int bcnt,
			 size_t len)
{
	size_t aoff = 0, boff = 0, done = 0;
	int ai = 0, bi = 0;

	if (spio_iov_length(a, acnt) < len || spio_iov_length(b, bcnt) < len) {
		return -EINVAL;
	}
	/* The result is offset + 1 in an int64_t: longer compares cannot be reported. */
	if (len > (size_t)INT64_MAX) {
		return -EINVAL;
	}

	while (done < len) {
		/* Lengths were checked above, so neither list runs out here. */
		if (aoff == a[ai].iov_len) {
			ai++;
			aoff = 0;
			continue;
		}
		if (boff == b[bi].iov_len) {
			bi++;
			boff = 0;
			continue;
		}

		const uint8_t *pa = (const uint8_t *)a[ai].iov_base + aoff;
		const uint8_t *pb = (const uint8_t *)b[bi].iov_base + boff;
		size_t n = SPIO_MIN(a[ai].iov_len - aoff, b[bi].iov_len - boff);

		n = SPIO_MIN(n, len - done);
		if (memcmp(pa, pb, n) != 0) {
			for (size_t i = 0; i < n; i++) {
				if (pa[i] != pb[i]) {
					return (int64_t)(done + i) + 1;
				}
			}
		}
		aoff += n;
		boff += n;
		done += n;
	}
	return 0;
}

void spio_iov_memset(struct iovec *iov, int iovcnt, int c, size_t len)
{
	if (iov == NULL) {
		return;
	}
	for (int i = 0; i < iovcnt && len > 0; i++) {
		size_t n = SPIO_MIN(iov[i].iov_len, len);

		if (n > 0) {
			memset(iov[i].iov_base, c, n);
		}
		len -= n;
	}
}
