/*
 * UUIDs: generation (version 4), strict parsing, lower-case formatting,
 * comparison and the null UUID.
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "spio/util.h"

static const char *const k_text = "0e7f8a3c-1b2d-4c5e-8f90-a1b2c3d4e5f6";
static const uint8_t k_bytes[16] = {0x0e, 0x7f, 0x8a, 0x3c, 0x1b, 0x2d, 0x4c, 0x5e,
				    0x8f, 0x90, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6};

Test(uuid, generate_is_v4_and_unique)
{
	struct spio_uuid a, b;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	spio_uuid_generate(&a);
	spio_uuid_generate(&b);

	cr_assert_eq(a.u[6] >> 4, 4, "version nibble: expected 4, got %d", a.u[6] >> 4);
	cr_assert_eq(a.u[8] & 0xC0, 0x80, "variant bits: expected 10xxxxxx, got 0x%02X", a.u[8]);
	cr_assert(!spio_uuid_is_null(&a), "a generated UUID must not be null");
	cr_assert_neq(spio_uuid_compare(&a, &b), 0, "two generated UUIDs must differ");

	/* NULL is ignored, not a crash. */
	spio_uuid_generate(NULL);
}

Test(uuid, parse_valid)
{
	struct spio_uuid u;
	int rc = spio_uuid_parse(&u, k_text);

	cr_assert_eq(rc, 0, "parse(%s): expected 0, got %d", k_text, rc);
	cr_assert_eq(memcmp(u.u, k_bytes, 16), 0, "parsed bytes differ from the expected ones");
}

Test(uuid, parse_upper_case)
{
	struct spio_uuid u;
	int rc = spio_uuid_parse(&u, "0E7F8A3C-1B2D-4C5E-8F90-A1B2C3D4E5F6");

	cr_assert_eq(rc, 0, "upper-case parse: expected 0, got %d", rc);
	cr_assert_eq(memcmp(u.u, k_bytes, 16), 0, "upper-case parse gave different bytes");
}

Test(uuid, parse_rejects)
{
	static const char *const bad[] = {
	    "",
	    "0e7f8a3c-1b2d-4c5e-8f90-a1b2c3d4e5f",    /* 35 chars */
	    "0e7f8a3c-1b2d-4c5e-8f90-a1b2c3d4e5f60",  /* 37 chars */
	    "0e7f8a3c-1b2d-4c5e-8f90-a1b2c3d4e5fg",   /* bad hex */
	    "0e7f8a3c 1b2d-4c5e-8f90-a1b2c3d4e5f6",   /* blank for dash */
	    "0e7f8a3c1b2d4c5e8f90a1b2c3d4e5f6",	      /* no dashes */
	    "0e7f8a3c-1b2d-4c5e-8f90a-1b2c3d4e5f6",   /* dash moved */
	    "0e7f8a3c-1b2d-4c5e--f90-a1b2c3d4e5f6",   /* dash in a group */
	    "{0e7f8a3c-1b2d-4c5e-8f90-a1b2c3d4e5f6}", /* braces */
	    " 0e7f8a3c-1b2d-4c5e-8f90-a1b2c3d4e5f6",  /* leading blank */
	    "0e7f8a3c-1b2d-4c5e-8f90-a1b2c3d4e5f6 ",  /* trailing blank */
	    "0x7f8a3c-1b2d-4c5e-8f90-a1b2c3d4e5f6",   /* 0x */
	    "urn:uuid:0e7f8a3c-1b2d-4c5e-8f90-a1b2c3d4e5f6",
	};
	struct spio_uuid u;

	for (size_t i = 0; i < SPIO_COUNTOF(bad); i++) {
		memset(&u, 0xAB, sizeof(u));
		int rc = spio_uuid_parse(&u, bad[i]);

		cr_assert_eq(rc, -EINVAL, "parse(\"%s\"): expected -EINVAL, got %d", bad[i], rc);
		for (size_t j = 0; j < 16; j++) {
			cr_assert_eq(u.u[j], 0xAB, "parse(\"%s\") failed but changed byte %zu",
				     bad[i], j);
		}
	}

	cr_assert_eq(spio_uuid_parse(&u, NULL), -EINVAL, "parse(NULL string) must be -EINVAL");
	cr_assert_eq(spio_uuid_parse(NULL, k_text), -EINVAL, "parse(NULL uuid) must be -EINVAL");
}

Test(uuid, parse_stops_at_embedded_nul)
{
	char text[40];
	struct spio_uuid u;

	strcpy(text, k_text);
	text[20] = '\0';
	cr_assert_eq(spio_uuid_parse(&u, text), -EINVAL,
		     "a string cut at 20 characters must be rejected");
}

Test(uuid, fmt_lower_round_trip)
{
	struct spio_uuid u, back;
	char buf[SPIO_UUID_STRING_LEN];
	int rc;

	spio_uuid_parse(&u, "0E7F8A3C-1B2D-4C5E-8F90-A1B2C3D4E5F6");
	rc = spio_uuid_fmt_lower(buf, sizeof(buf), &u);
	cr_assert_eq(rc, 0, "fmt_lower: expected 0, got %d", rc);
	cr_assert_str_eq(buf, k_text, "fmt_lower: expected \"%s\", got \"%s\"", k_text, buf);

	spio_uuid_generate(&u);
	spio_uuid_fmt_lower(buf, sizeof(buf), &u);
	cr_assert_eq(strlen(buf), 36, "formatted length: expected 36, got %zu", strlen(buf));
	for (size_t i = 0; i < 36; i++) {
		cr_assert(!isupper((unsigned char)buf[i]), "upper-case character in \"%s\"", buf);
	}
	cr_assert_eq(spio_uuid_parse(&back, buf), 0, "formatted UUID \"%s\" must parse", buf);
	cr_assert_eq(spio_uuid_compare(&u, &back), 0, "round trip through \"%s\" changed it", buf);
}

Test(uuid, fmt_lower_rejects)
{
	struct spio_uuid u;
	char buf[64];

	spio_uuid_generate(&u);
	memset(buf, 'Z', sizeof(buf));
	cr_assert_eq(spio_uuid_fmt_lower(buf, SPIO_UUID_STRING_LEN - 1, &u), -EINVAL,
		     "36-byte buffer (no room for NUL) must be -EINVAL");
	cr_assert_eq(buf[0], 'Z', "a rejected fmt_lower must not write into the buffer");
	cr_assert_eq(spio_uuid_fmt_lower(buf, 0, &u), -EINVAL, "0-byte buffer must be -EINVAL");
	cr_assert_eq(spio_uuid_fmt_lower(NULL, sizeof(buf), &u), -EINVAL,
		     "NULL buffer must be -EINVAL");
	cr_assert_eq(spio_uuid_fmt_lower(buf, sizeof(buf), NULL), -EINVAL,
		     "NULL uuid must be -EINVAL");
	cr_assert_eq(spio_uuid_fmt_lower(buf, sizeof(buf), &u), 0,
		     "larger buffer than needed must be accepted");
	cr_assert_eq(strlen(buf), 36, "expected 36 characters, got %zu", strlen(buf));
}

Test(uuid, compare)
{
	struct spio_uuid a, b;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	cr_assert_eq(spio_uuid_compare(&a, &b), 0, "equal UUIDs must compare 0");
	b.u[15] = 1;
	cr_assert_lt(spio_uuid_compare(&a, &b), 0, "a < b in the last byte must compare < 0");
	cr_assert_gt(spio_uuid_compare(&b, &a), 0, "b > a must compare > 0");
	a.u[0] = 1;
	cr_assert_gt(spio_uuid_compare(&a, &b), 0, "the first byte must dominate the last");
	cr_assert_eq(spio_uuid_compare(&a, &a), 0, "a UUID must equal itself");
	cr_assert_lt(spio_uuid_compare(NULL, &a), 0, "NULL must sort first");
	cr_assert_gt(spio_uuid_compare(&a, NULL), 0, "NULL must sort first");
	cr_assert_eq(spio_uuid_compare(NULL, NULL), 0, "NULL equals NULL");
}

Test(uuid, is_null)
{
	struct spio_uuid u;

	memset(&u, 0, sizeof(u));
	cr_assert(spio_uuid_is_null(&u), "all-zero UUID must be null");
	cr_assert_eq(spio_uuid_parse(&u, "00000000-0000-0000-0000-000000000000"), 0,
		     "parsing the nil UUID must succeed");
	cr_assert(spio_uuid_is_null(&u), "parsed nil UUID must be null");
	for (size_t i = 0; i < 16; i++) {
		memset(&u, 0, sizeof(u));
		u.u[i] = 0x01;
		cr_assert(!spio_uuid_is_null(&u), "UUID with byte %zu set must not be null", i);
	}
	cr_assert(spio_uuid_is_null(NULL), "NULL counts as the null UUID");
}
