/*
 * spio_dd: copy between files and bdevs, SPDK's spdk_dd. The app framework
 * runs the JSON configuration (--json FILE) that creates the bdevs; on the
 * app thread spio_dd waits for the bdevs' examine (lvols appear there), opens
 * both sides, checks sizes and --bs against them, and starts the copy loop
 * (copy.c). docs/spio_dd.md is the guide.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/app.h"
#include "spio/bdev.h"
#include "spio/dma.h"
#include "spio/util.h"

#include "dd.h"

/* Buffers are page-aligned at least: O_DIRECT and every bdev take that. */
#define DD_BUF_ALIGN_MIN 4096u

static int dd_open_input(struct dd_job *job)
{
	const struct dd_options *o = &g_dd_opts;
	struct dd_target *in = &job->in;
	uint64_t count_bytes = o->count * o->bs;
	int rc;

	rc = o->input_file != NULL ? dd_file_open(in, o->input_file, o->input_flags, true)
				   : dd_bdev_open(in, o->input_bdev, true);
	if (rc != 0) {
		return rc;
	}
	job->in_start = o->skip * o->bs;
	if (in->size_known && job->in_start > in->size) {
		fprintf(stderr,
			"spio_dd: --skip value too big (%" PRIu64 ") - only %" PRIu64
			" blocks available in input\n",
			o->skip, in->size / o->bs);
		return DD_EXIT_FAIL;
	}
	if (o->count != 0 && in->size_known && count_bytes > in->size - job->in_start) {
		fprintf(stderr,
			"spio_dd: --count value too big (%" PRIu64 ") - only %" PRIu64
			" blocks available from input\n",
			o->count, (in->size - job->in_start) / o->bs);
		return DD_EXIT_FAIL;
	}
	if (o->count != 0) {
		job->copy_size = count_bytes;
	} else if (in->size_known) {
		job->copy_size = in->size - job->in_start;
	} else {
		fprintf(stderr,
			"spio_dd: --if %s: its size is unknown (not a regular file or block "
			"device): give --count\n",
			in->name);
		return DD_EXIT_USAGE;
	}
	if (o->sparse && !in->regular) {
		fprintf(stderr, "spio_dd: --sparse: --if %s is not a regular file\n", in->name);
		return DD_EXIT_USAGE;
	}
	return 0;
}

static int dd_open_output(struct dd_job *job)
{
	const struct dd_options *o = &g_dd_opts;
	struct dd_target *out = &job->out;
	int rc;

	rc = o->output_file != NULL ? dd_file_open(out, o->output_file, o->output_flags, false)
				    : dd_bdev_open(out, o->output_bdev, false);
	if (rc != 0) {
		return rc;
	}
	job->out_start = o->seek * o->bs;
	/* a regular file grows; a bdev or a block device does not */
	if (!out->size_known || out->regular) {
		return 0;
	}
	if (job->out_start > out->size) {
		fprintf(stderr,
			"spio_dd: --seek value too big (%" PRIu64 ") - only %" PRIu64
			" blocks available in output\n",
			o->seek, out->size / o->bs);
		return DD_EXIT_FAIL;
	}
	if (job->copy_size > out->size - job->out_start) {
		if (o->count != 0) {
			fprintf(stderr,
				"spio_dd: --count value too big (%" PRIu64 ") - only %" PRIu64
				" blocks available in output\n",
				o->count, (out->size - job->out_start) / o->bs);
		} else {
			fprintf(stderr,
				"spio_dd: %s %s: output too small: %" PRIu64
				" bytes to copy from offset %" PRIu64 ", only %" PRIu64
				" bytes there\n",
				out->kind == DD_KIND_BDEV ? "--ob" : "--of", out->name,
				job->copy_size, job->out_start, out->size - job->out_start);
		}
		return DD_EXIT_FAIL;
	}
	return 0;
}

/* --bs against the native block sizes (and O_DIRECT alignments) of both sides. */
static int dd_check_bs(const struct dd_job *job)
{
	uint64_t bs = g_dd_opts.bs;

	if (job->in.block_size > bs || job->out.block_size > bs) {
		fprintf(stderr,
			"spio_dd: --bs value (%" PRIu64 ") cannot be less than input (%u) neither "
			"output (%u) native block size\n",
			bs, job->in.block_size, job->out.block_size);
		return DD_EXIT_USAGE;
	}
	if (bs % job->in.block_size != 0) {
		fprintf(stderr,
			"spio_dd: --bs value (%" PRIu64
			") must be a multiple of input native block size (%u)\n",
			bs, job->in.block_size);
		return DD_EXIT_USAGE;
	}
	if (bs % job->out.block_size != 0) {
		fprintf(stderr,
			"spio_dd: --bs value (%" PRIu64
			") must be a multiple of output native block size (%u)\n",
			bs, job->out.block_size);
		return DD_EXIT_USAGE;
	}
	return 0;
}

static int dd_alloc_slots(struct dd_job *job)
{
	uint64_t bs = g_dd_opts.bs;
	uint64_t chunks = (job->copy_size + bs - 1) / bs;
	size_t align = SPIO_MAX(DD_BUF_ALIGN_MIN, SPIO_MAX(job->in.buf_align, job->out.buf_align));
	uint32_t i;

	job->nslots = (uint32_t)SPIO_MIN((uint64_t)g_dd_opts.qd, chunks);
	if (job->in.stream || job->out.stream) {
		/* a pipe has no offsets: two chunks in flight could pass each other */
		job->nslots = SPIO_MIN(job->nslots, 1u);
	}
	job->slots = calloc(SPIO_MAX(job->nslots, 1u), sizeof(*job->slots));
	if (job->slots == NULL) {
		fprintf(stderr, "spio_dd: out of memory\n");
		return DD_EXIT_FAIL;
	}
	for (i = 0; i < job->nslots; i++) {
		struct dd_slot *s = &job->slots[i];

		s->buf = spio_dma_malloc(bs, align);
		if (s->buf == NULL) {
			goto nomem;
		}
		if (job->out.block_size > 1) {
			s->tail = spio_dma_malloc(job->out.block_size, align);
			if (s->tail == NULL) {
				goto nomem;
			}
		}
	}
	return 0;
nomem:
	fprintf(stderr,
		"spio_dd: cannot allocate %u DMA buffers of %" PRIu64
		" bytes: %s - try a smaller --bs or --qd\n",
		job->nslots, bs, strerror(errno));
	return DD_EXIT_FAIL;
}

static int dd_setup(struct dd_job *job)
{
	int rc;

	if ((rc = dd_open_input(job)) != 0 || (rc = dd_open_output(job)) != 0 ||
	    (rc = dd_check_bs(job)) != 0 || (rc = dd_alloc_slots(job)) != 0) {
		return rc;
	}
	if (job->out.kind == DD_KIND_FILE && (rc = dd_file_truncate_start(&job->out)) != 0) {
		return rc;
	}
	if (job->in.kind == DD_KIND_FILE || job->out.kind == DD_KIND_FILE) {
		return dd_ring_init(job);
	}
	return 0;
}

/* After the configuration's bdevs were examined: lvols and other virtual bdevs exist now. */
static void dd_examined(void *arg)
{
	struct dd_job *job = arg;

	if (job->stopping) {
		dd_job_end(job);
		return;
	}
	job->exit_rc = dd_setup(job);
	if (job->exit_rc != DD_EXIT_OK) {
		dd_job_end(job);
		return;
	}
	dd_copy_start(job);
}

static void dd_start(void *arg)
{
	int rc = spio_bdev_wait_for_examine(dd_examined, &g_dd);

	if (rc != 0) {
		fprintf(stderr, "spio_dd: cannot wait for the bdevs' examine: %s\n", strerror(-rc));
		g_dd.exit_rc = DD_EXIT_FAIL;
		dd_job_end(&g_dd);
	}
}

static void dd_shutdown(void)
{
	g_dd.interrupted = true;
	dd_copy_fail(&g_dd, DD_EXIT_FAIL);
}

int main(int argc, char **argv)
{
	struct spio_app_opts opts;
	int rc;

	spio_app_opts_init(&opts, sizeof(opts));
	opts.name = "spio_dd";
	opts.reactor_mask = "0x1";
	opts.rpc_addr = NULL;
	opts.idle_mode = SPIO_APP_IDLE_POLL;
	opts.shutdown_cb = dd_shutdown;
	if (!dd_parse_args(argc, argv, &opts, &rc)) {
		return rc;
	}
	rc = spio_app_start(&opts, dd_start, NULL);
	if (rc < 0) {
		fprintf(stderr, "spio_dd: start-up failed: %s\n", strerror(-rc));
		return DD_EXIT_FAIL;
	}
	return rc;
}
