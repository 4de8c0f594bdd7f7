/*
 * iovec helpers: length, copies in both directions, advance, compare and
 * memset, with empty lists, zero-length entries and short lists.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "spio/util.h"

/* Fill `buf` with a pattern that differs at every offset within 251 bytes. */
static void fill_pattern(uint8_t *buf, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++) {
		buf[i] = (uint8_t)(seed + i * 7 % 251);
	}
}

Test(iov, length)
{
	uint8_t a[10], b[20];
	struct iovec iov[] = {{a, 10}, {NULL, 0}, {b, 20}, {a, 0}};

	cr_assert_eq(spio_iov_length(iov, 4), 30, "expected 30, got %zu", spio_iov_length(iov, 4));
	cr_assert_eq(spio_iov_length(iov, 1), 10, "expected 10, got %zu", spio_iov_length(iov, 1));
	cr_assert_eq(spio_iov_length(iov, 0), 0, "count 0: expected 0");
	cr_assert_eq(spio_iov_length(iov, -1), 0, "negative count: expected 0");
	cr_assert_eq(spio_iov_length(NULL, 0), 0, "NULL, 0: expected 0");
	cr_assert_eq(spio_iov_length(NULL, 3), 0, "NULL, 3: expected 0");
}

Test(iov, copy_buf_to_iovs)
{
	uint8_t src[64], a[5], b[7], c[20];
	struct iovec iov[] = {{a, 5}, {NULL, 0}, {b, 7}, {c, 20}};
	size_t n;

	fill_pattern(src, sizeof(src), 3);
	memset(c, 0xEE, sizeof(c));

	/* len inside the list: stops in the middle of c. */
	n = spio_copy_buf_to_iovs(iov, 4, src, 20);
	cr_assert_eq(n, 20, "expected 20 bytes copied, got %zu", n);
	cr_assert_eq(memcmp(a, src, 5), 0, "entry a holds the wrong bytes");
	cr_assert_eq(memcmp(b, src + 5, 7), 0, "entry b holds the wrong bytes");
	cr_assert_eq(memcmp(c, src + 12, 8), 0, "entry c holds the wrong bytes");
	cr_assert_eq(c[8], 0xEE, "byte after the copied range was overwritten");

	/* len larger than the list: copies the whole list. */
	n = spio_copy_buf_to_iovs(iov, 4, src, sizeof(src));
	cr_assert_eq(n, 32, "len > total: expected 32 bytes copied, got %zu", n);
	cr_assert_eq(memcmp(c, src + 12, 20), 0, "entry c holds the wrong bytes");

	cr_assert_eq(spio_copy_buf_to_iovs(iov, 4, src, 0), 0, "len 0: expected 0");
	cr_assert_eq(spio_copy_buf_to_iovs(NULL, 0, src, 10), 0, "NULL list: expected 0");
	cr_assert_eq(spio_copy_buf_to_iovs(iov, 0, src, 10), 0, "empty list: expected 0");
	cr_assert_eq(spio_copy_buf_to_iovs(iov, 4, NULL, 10), 0, "NULL buffer: expected 0");
}

Test(iov, copy_iovs_to_buf)
{
	uint8_t a[3], b[9], dst[32];
	struct iovec iov[] = {{NULL, 0}, {a, 3}, {b, 9}, {NULL, 0}};
	size_t n;

	fill_pattern(a, sizeof(a), 1);
	fill_pattern(b, sizeof(b), 100);

	memset(dst, 0, sizeof(dst));
	n = spio_copy_iovs_to_buf(dst, sizeof(dst), iov, 4);
	cr_assert_eq(n, 12, "len > total: expected 12 bytes copied, got %zu", n);
	cr_assert_eq(memcmp(dst, a, 3), 0, "first 3 bytes must come from a");
	cr_assert_eq(memcmp(dst + 3, b, 9), 0, "next 9 bytes must come from b");
	cr_assert_eq(dst[12], 0, "byte past the list's data was written");

	memset(dst, 0, sizeof(dst));
	n = spio_copy_iovs_to_buf(dst, 5, iov, 4);
	cr_assert_eq(n, 5, "expected 5 bytes copied, got %zu", n);
	cr_assert_eq(memcmp(dst + 3, b, 2), 0, "bytes 3..4 must come from b");
	cr_assert_eq(dst[5], 0, "copy went past len");

	cr_assert_eq(spio_copy_iovs_to_buf(dst, 0, iov, 4), 0, "len 0: expected 0");
	cr_assert_eq(spio_copy_iovs_to_buf(dst, 10, NULL, 0), 0, "NULL list: expected 0");
	cr_assert_eq(spio_copy_iovs_to_buf(NULL, 10, iov, 4), 0, "NULL buffer: expected 0");
}

Test(iov, copy_round_trip)
{
	uint8_t src[100], back[100], store[100];
	struct iovec iov[7];
	size_t sizes[7] = {1, 0, 33, 2, 0, 50, 14};
	size_t off = 0;

	for (int i = 0; i < 7; i++) {
		iov[i].iov_base = store + off;
		iov[i].iov_len = sizes[i];
		off += sizes[i];
	}
	fill_pattern(src, sizeof(src), 9);
	cr_assert_eq(spio_copy_buf_to_iovs(iov, 7, src, 100), 100, "scatter must copy 100");
	memset(back, 0, sizeof(back));
	cr_assert_eq(spio_copy_iovs_to_buf(back, 100, iov, 7), 100, "gather must copy 100");
	cr_assert_eq(memcmp(src, back, 100), 0, "scatter then gather must give the input back");
}

Test(iov, advance_within_and_across)
{
	uint8_t a[10], b[20], c[30];
	struct iovec arr[] = {{a, 10}, {b, 20}, {c, 30}};
	struct iovec *iov = arr;
	int cnt = 3;
	int rc;

	rc = spio_iov_advance(&iov, &cnt, 4);
	cr_assert_eq(rc, 0, "advance 4: expected 0, got %d", rc);
	cr_assert_eq(iov, &arr[0], "advance inside the first entry must not move the pointer");
	cr_assert_eq(cnt, 3, "count: expected 3, got %d", cnt);
	cr_assert_eq(iov->iov_base, a + 4, "first entry base must move by 4");
	cr_assert_eq(iov->iov_len, 6, "first entry len: expected 6, got %zu", iov->iov_len);

	rc = spio_iov_advance(&iov, &cnt, 6 + 5);
	cr_assert_eq(rc, 0, "advance 11: expected 0, got %d", rc);
	cr_assert_eq(iov, &arr[1], "pointer must be at entry 1");
	cr_assert_eq(cnt, 2, "count: expected 2, got %d", cnt);
	cr_assert_eq(iov->iov_base, b + 5, "entry 1 base must move by 5");
	cr_assert_eq(iov->iov_len, 15, "entry 1 len: expected 15, got %zu", iov->iov_len);

	/* Exactly to an entry boundary: the consumed entry is skipped. */
	rc = spio_iov_advance(&iov, &cnt, 15);
	cr_assert_eq(rc, 0, "advance 15: expected 0, got %d", rc);
	cr_assert_eq(iov, &arr[2], "pointer must be at entry 2");
	cr_assert_eq(cnt, 1, "count: expected 1, got %d", cnt);
	cr_assert_eq(iov->iov_len, 30, "entry 2 must be whole, got len %zu", iov->iov_len);
	cr_assert_eq(spio_iov_length(iov, cnt), 30, "remaining length: expected 30");
}

Test(iov, advance_exactly_to_end)
{
	uint8_t a[10], b[20];
	struct iovec arr[] = {{a, 10}, {b, 20}, {NULL, 0}};
	struct iovec *iov = arr;
	int cnt = 3;
	int rc = spio_iov_advance(&iov, &cnt, 30);

	cr_assert_eq(rc, 0, "advance to the end: expected 0, got %d", rc);
	cr_assert_eq(cnt, 0, "count at the end: expected 0, got %d", cnt);
	cr_assert_eq(iov, arr + 3, "pointer must be one past the last entry");
	cr_assert_eq(spio_iov_length(iov, cnt), 0, "nothing may remain");

	/* Advancing an empty remainder by 0 is fine. */
	rc = spio_iov_advance(&iov, &cnt, 0);
	cr_assert_eq(rc, 0, "advance 0 at the end: expected 0, got %d", rc);
	cr_assert_eq(cnt, 0, "count must stay 0");
}

Test(iov, advance_skips_zero_length_entries)
{
	uint8_t a[4], b[4];
	struct iovec arr[] = {{NULL, 0}, {a, 4}, {NULL, 0}, {NULL, 0}, {b, 4}};
	struct iovec *iov = arr;
	int cnt = 5;

	cr_assert_eq(spio_iov_advance(&iov, &cnt, 0), 0, "advance 0 must succeed");
	cr_assert_eq(iov, &arr[1], "leading zero-length entry must be skipped");
	cr_assert_eq(cnt, 4, "count: expected 4, got %d", cnt);

	cr_assert_eq(spio_iov_advance(&iov, &cnt, 4), 0, "advance 4 must succeed");
	cr_assert_eq(iov, &arr[4], "zero-length entries after a consumed one must be skipped");
	cr_assert_eq(cnt, 1, "count: expected 1, got %d", cnt);
	cr_assert_eq(iov->iov_base, b, "entry b must be untouched");
}

Test(iov, advance_past_end_changes_nothing)
{
	uint8_t a[10], b[20];
	struct iovec arr[] = {{a, 10}, {b, 20}};
	struct iovec *iov = arr;
	int cnt = 2;
	int rc = spio_iov_advance(&iov, &cnt, 31);

	cr_assert_eq(rc, -EINVAL, "advance 31 of 30: expected -EINVAL, got %d", rc);
	cr_assert_eq(iov, arr, "failed advance moved the pointer");
	cr_assert_eq(cnt, 2, "failed advance changed the count to %d", cnt);
	cr_assert(arr[0].iov_base == a && arr[0].iov_len == 10, "failed advance changed entry 0");
	cr_assert(arr[1].iov_base == b && arr[1].iov_len == 20, "failed advance changed entry 1");

	rc = spio_iov_advance(&iov, &cnt, SIZE_MAX);
	cr_assert_eq(rc, -EINVAL, "advance SIZE_MAX: expected -EINVAL, got %d", rc);
	cr_assert_eq(cnt, 2, "failed advance changed the count");
}

Test(iov, advance_bad_arguments)
{
	uint8_t a[8];
	struct iovec arr[] = {{a, 8}};
	struct iovec *iov = arr, *null_iov = NULL;
	int cnt = 1, zero = 0, neg = -1;

	cr_assert_eq(spio_iov_advance(NULL, &cnt, 0), -EINVAL, "NULL iov pointer: -EINVAL");
	cr_assert_eq(spio_iov_advance(&iov, NULL, 0), -EINVAL, "NULL count pointer: -EINVAL");
	cr_assert_eq(spio_iov_advance(&iov, &neg, 0), -EINVAL, "negative count: -EINVAL");
	cr_assert_eq(spio_iov_advance(&null_iov, &cnt, 0), -EINVAL,
		     "NULL array with count 1: -EINVAL");
	cr_assert_eq(spio_iov_advance(&null_iov, &zero, 0), 0, "NULL array, count 0, 0 bytes: 0");
	cr_assert_eq(spio_iov_advance(&null_iov, &zero, 1), -EINVAL,
		     "NULL array, count 0, 1 byte: -EINVAL");
	cr_assert_eq(iov, arr, "pointer must be unchanged");
	cr_assert_eq(arr[0].iov_len, 8, "entry must be unchanged");
}

Test(iov, compare_equal_with_different_splits)
{
	uint8_t data[64], copy[64];
	struct iovec a[] = {{data, 10}, {NULL, 0}, {data + 10, 54}};
	struct iovec b[] = {{copy, 1}, {copy + 1, 31}, {copy + 32, 3}, {copy + 35, 29}};
	int64_t rc;

	fill_pattern(data, sizeof(data), 17);
	memcpy(copy, data, sizeof(data));

	rc = spio_iov_compare(a, 3, b, 4, 64);
	cr_assert_eq(rc, 0, "equal contents: expected 0, got %" PRId64, rc);
	rc = spio_iov_compare(a, 3, b, 4, 0);
	cr_assert_eq(rc, 0, "len 0: expected 0, got %" PRId64, rc);
	rc = spio_iov_compare(NULL, 0, NULL, 0, 0);
	cr_assert_eq(rc, 0, "two empty lists, len 0: expected 0, got %" PRId64, rc);
}

Test(iov, compare_reports_first_difference)
{
	uint8_t data[64], copy[64];
	struct iovec a[] = {{data, 40}, {data + 40, 24}};
	struct iovec b[] = {{copy, 7}, {copy + 7, 57}};
	int64_t rc;

	fill_pattern(data, sizeof(data), 5);
	for (size_t pos = 0; pos < 64; pos++) {
		memcpy(copy, data, sizeof(data));
		copy[pos] ^= 0x80;
		if (pos + 3 < 64) {
			copy[pos + 3] ^= 0x01; /* a later difference must not be reported */
		}
		rc = spio_iov_compare(a, 2, b, 2, 64);
		cr_assert_eq(rc, (int64_t)pos + 1, "difference at %zu: expected %zu, got %" PRId64,
			     pos, pos + 1, rc);
	}

	/* A difference beyond len is not seen. */
	memcpy(copy, data, sizeof(data));
	copy[50] ^= 1;
	rc = spio_iov_compare(a, 2, b, 2, 50);
	cr_assert_eq(rc, 0, "difference at 50, len 50: expected 0, got %" PRId64, rc);
	rc = spio_iov_compare(a, 2, b, 2, 51);
	cr_assert_eq(rc, 51, "difference at 50, len 51: expected 51, got %" PRId64, rc);
}

Test(iov, compare_short_list)
{
	uint8_t data[16];
	struct iovec a[] = {{data, 16}};
	struct iovec b[] = {{data, 8}, {data + 8, 7}};
	int64_t rc;

	memset(data, 0, sizeof(data));
	rc = spio_iov_compare(a, 1, b, 2, 16);
	cr_assert_eq(rc, -EINVAL, "b shorter than len: expected -EINVAL, got %" PRId64, rc);
	rc = spio_iov_compare(b, 2, a, 1, 16);
	cr_assert_eq(rc, -EINVAL, "a shorter than len: expected -EINVAL, got %" PRId64, rc);
	rc = spio_iov_compare(a, 1, NULL, 0, 1);
	cr_assert_eq(rc, -EINVAL, "empty b, len 1: expected -EINVAL, got %" PRId64, rc);
	rc = spio_iov_compare(a, 1, b, 2, 15);
	cr_assert_eq(rc, 0, "len 15 fits both: expected 0, got %" PRId64, rc);
}

Test(iov, memset)
{
	uint8_t a[5], b[10];
	struct iovec iov[] = {{a, 5}, {NULL, 0}, {b, 10}};

	memset(a, 0x11, sizeof(a));
	memset(b, 0x11, sizeof(b));
	spio_iov_memset(iov, 3, 0, 8);
	for (size_t i = 0; i < 5; i++) {
		cr_assert_eq(a[i], 0, "a[%zu]: expected 0, got 0x%02X", i, a[i]);
	}
	for (size_t i = 0; i < 10; i++) {
		uint8_t want = i < 3 ? 0 : 0x11;

		cr_assert_eq(b[i], want, "b[%zu]: expected 0x%02X, got 0x%02X", i, want, b[i]);
	}

	/* len beyond the list stops at its end; any byte value works. */
	spio_iov_memset(iov, 3, 0xA5, 1000);
	for (size_t i = 0; i < 10; i++) {
		cr_assert_eq(b[i], 0xA5, "b[%zu]: expected 0xA5, got 0x%02X", i, b[i]);
	}

	spio_iov_memset(NULL, 0, 0, 10);
	spio_iov_memset(NULL, 3, 0, 10);
	spio_iov_memset(iov, 3, 0x00, 0);
	cr_assert_eq(a[0], 0xA5, "len 0 must not write");
}
