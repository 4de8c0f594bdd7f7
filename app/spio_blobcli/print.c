/*
 * The hex dump blobcli prints for the blobstore type and xattr values
 * (SPDK's spdk_log_dump layout), character for character so that scripts
 * reading blobcli's output read ours.
 */
#include <ctype.h>
#include <stdio.h>

#include "blobcli.h"

#define LINE_BYTES 16

void cli_hexdump(FILE *fp, const char *label, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	char ascii[LINE_BYTES + 1];
	size_t i;

	fprintf(fp, "%s\n", label);
	ascii[0] = '\0';
	for (i = 0; i < len; i++) {
		if (i % LINE_BYTES == 0) {
			/* SPDK's: one blank before the text here, two after the last line */
			if (i != 0) {
				fprintf(fp, " %s\n", ascii);
			}
			fprintf(fp, "%08zx ", i);
		}
		if (i % 8 == 0) {
			fputc(' ', fp);
		}
		fprintf(fp, "%02x ", p[i]);
		ascii[i % LINE_BYTES] = isprint(p[i]) ? (char)p[i] : '.';
		ascii[i % LINE_BYTES + 1] = '\0';
	}
	for (; i % LINE_BYTES != 0; i++) {
		/* SPDK adds the mid-line gap to padding on the first line only */
		if (i == 8) {
			fputc(' ', fp);
		}
		fputs("   ", fp);
	}
	fprintf(fp, "  %s\n", ascii);
}
