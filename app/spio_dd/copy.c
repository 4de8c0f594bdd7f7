/*
 * spio_dd's copy loop. Each slot takes the next chunk of the copy region
 * (--bs bytes, less at the end or, with --sparse, at a hole), reads it,
 * reads the old content of the output block its end falls into when that
 * block is only partly covered (the output's whole-block rule), writes it
 * and takes the next chunk. `qd` slots keep `qd` chunks in flight. The first
 * failure stops new chunks; the job ends when the last slot is idle.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spio/app.h"
#include "spio/dma.h"
#include "spio/env.h"

#include "dd.h"

struct dd_job g_dd = {
    .in = {.fd = -1},
    .out = {.fd = -1},
    .efd = -1,
};

/* Progress lines: about once a second, as spdk_dd. */
#define DD_PROGRESS_PERIOD_US 1000000

uint64_t dd_round_len(const struct dd_target *t, uint64_t len)
{
	return (len + t->block_size - 1) / t->block_size * t->block_size;
}

static uint64_t gcd64(uint64_t a, uint64_t b)
{
	while (b != 0) {
		uint64_t r = a % b;

		a = b;
		b = r;
	}
	return a;
}

/*
 * Progress, in spdk_dd's format: sizes and rates in B, kB, MB, GB or TB,
 * whichever keeps the number at most 10240 (powers of 1024).
 */
static const char *dd_unit(uint64_t v, uint64_t *div)
{
	static const char *const units[] = {"", "k", "M", "G", "T"};
	size_t i = 0;

	*div = 1;
	while (v > 10 * 1024 && i + 1 < SPIO_COUNTOF(units)) {
		v >>= 10;
		*div <<= 10;
		i++;
	}
	return units[i];
}

static void dd_print_progress(struct dd_job *job, uint64_t bytes, uint64_t ticks, bool final)
{
	uint64_t hz = spio_get_ticks_hz(), sdiv, rdiv, rate;
	const char *su, *ru;

	rate = ticks == 0 ? 0 : (uint64_t)((double)bytes * (double)hz / (double)ticks);
	su = dd_unit(job->copy_size, &sdiv);
	ru = dd_unit(rate, &rdiv);
	/* a terminal gets one line redrawn in place; a log gets one line each */
	fprintf(stderr, "%sCopying: %" PRIu64 "/%" PRIu64 " [%sB] (%s%" PRIu64 " %sBps)%s",
		job->tty ? "\33[2K\r" : "", job->copied / sdiv, job->copy_size / sdiv, su,
		final ? "average " : "", rate / rdiv, ru, job->tty && !final ? "" : "\n");
	fflush(stderr);
}

static int dd_progress_poll(void *arg)
{
	struct dd_job *job = arg;
	uint64_t now = spio_get_ticks();

	dd_print_progress(job, job->copied - job->last_copied, now - job->last_tick, false);
	job->last_tick = now;
	job->last_copied = job->copied;
	return SPIO_POLLER_BUSY;
}

static void dd_print_summary(struct dd_job *job)
{
	uint64_t ticks = spio_get_ticks() - job->start_tick;
	double s = (double)ticks / (double)spio_get_ticks_hz();

	dd_print_progress(job, job->copied, ticks, true);
	fprintf(stderr, "spio_dd: copied %" PRIu64 " bytes in %.3f s (%.1f MiB/s)\n", job->copied,
		s, s > 0 ? (double)job->copied / s / (1024.0 * 1024.0) : 0.0);
}

/*
 * The end
 */

void dd_job_end(struct dd_job *job)
{
	uint32_t i;

	if (job->finished) {
		return;
	}
	job->finished = true;
	spio_poller_unregister(&job->progress_poller);
	if (job->exit_rc == DD_EXIT_OK && job->out.kind == DD_KIND_FILE) {
		job->exit_rc = dd_file_set_end(&job->out, job->out_start + job->copy_size);
	}
	if (job->exit_rc == DD_EXIT_OK && job->start_tick != 0) {
		dd_print_summary(job);
	} else if (job->interrupted) {
		fprintf(stderr, "spio_dd: interrupted after %" PRIu64 " of %" PRIu64 " bytes\n",
			job->copied, job->copy_size);
	}
	dd_ring_fini(job);
	dd_bdev_close(&job->in);
	dd_bdev_close(&job->out);
	dd_file_close(&job->in);
	dd_file_close(&job->out);
	for (i = 0; i < job->nslots; i++) {
		spio_dma_free(job->slots[i].buf);
		spio_dma_free(job->slots[i].tail);
	}
	free(job->slots);
	job->slots = NULL;
	job->nslots = 0;
	spio_app_stop(job->exit_rc);
}

static void dd_job_end_msg(void *arg)
{
	dd_job_end(arg);
}

/*
 * End the job from a message of its own: the last completion may come from
 * inside the ring's poller or a bdev callback, which must not see the ring
 * or the descriptor go away under them.
 */
static void dd_job_end_later(struct dd_job *job)
{
	if (spio_thread_send_msg(spio_get_thread(), dd_job_end_msg, job) != 0) {
		fprintf(stderr, "spio_dd: cannot message the app thread; stopping at once\n");
		spio_app_stop(DD_EXIT_FAIL);
	}
}

void dd_copy_fail(struct dd_job *job, int rc)
{
	if (job->exit_rc == DD_EXIT_OK) {
		job->exit_rc = rc;
	}
	job->stopping = true;
	/* while slots are busy the last one to finish ends the job */
	if (job->busy == 0 && job->start_tick != 0) {
		dd_job_end_later(job);
	}
}

static void dd_slot_idle(struct dd_job *job)
{
	if (--job->busy == 0) {
		dd_job_end_later(job);
	}
}

/*
 * A slot failed: stop the copy. True for the first failure only, which is
 * the one reported (with qd slots failing alike, the rest would be noise).
 */
static bool dd_first_failure(struct dd_job *job)
{
	bool first = job->exit_rc == DD_EXIT_OK && !job->stopping;

	if (job->exit_rc == DD_EXIT_OK) {
		job->exit_rc = DD_EXIT_FAIL;
	}
	job->stopping = true;
	return first;
}

/* Report a failed operation of `slot` and take the slot out of the copy. */
static void dd_slot_fail(struct dd_job *job, struct dd_slot *slot, const char *what, int err)
{
	struct dd_target *t = slot->op == DD_OP_READ ? &job->in : &job->out;
	const char *opt =
	    t->kind == DD_KIND_BDEV ? (t->input ? "--ib" : "--ob") : (t->input ? "--if" : "--of");

	if (dd_first_failure(job)) {
		fprintf(stderr,
			"spio_dd: %s %s: %s of %" PRIu64 " bytes at offset %" PRIu64
			" failed: %s\n",
			opt, t->name, what, slot->io_len, slot->io_off, strerror(err));
	}
	dd_slot_idle(job);
}

static const char *const g_op_names[] = {
    [DD_OP_READ] = "read",
    [DD_OP_POPULATE] = "read (of a partial output block)",
    [DD_OP_WRITE] = "write",
};

/* Submit the slot's operation (op already set) on the target it concerns. */
static void dd_slot_submit(struct dd_job *job, struct dd_slot *slot, void *buf, uint64_t off,
			   uint64_t len)
{
	struct dd_target *t = slot->op == DD_OP_READ ? &job->in : &job->out;
	int rc;

	if (t->kind == DD_KIND_FILE) {
		rc = dd_file_submit(job, t, slot, buf, off, len);
	} else {
		rc = dd_bdev_submit(t, slot, buf, off, len);
	}
	if (rc != 0) {
		slot->io_buf = buf;
		slot->io_off = off;
		slot->io_len = len;
		dd_slot_fail(job, slot, g_op_names[slot->op], -rc);
	}
}

/*
 * --sparse: move the chunk to the next data of the input file and end it at
 * the following hole. Both ends are aligned down and up to what either side
 * needs, so that two chunks never share an output block (the holes' zeros
 * are read like data). False when no data is left in the region.
 */
static bool dd_sparse_chunk(struct dd_job *job, uint64_t *start, uint64_t *end)
{
	uint64_t align, data, hole;
	int rc;

	align = job->in.block_size / gcd64(job->in.block_size, job->out.block_size) *
		job->out.block_size;
	rc = dd_file_next_data(&job->in, job->in_start + job->next, &data, &hole);
	if (rc < 0) {
		dd_copy_fail(job, DD_EXIT_FAIL);
		return false;
	}
	if (rc == 0 || data - job->in_start >= job->copy_size) {
		return false;
	}
	*start = SPIO_MAX(job->next, (data - job->in_start) / align * align);
	*end = (hole - job->in_start + align - 1) / align * align;
	return true;
}

/* Give `slot` the next chunk of the region; false when none is left. */
static bool dd_take_chunk(struct dd_job *job, struct dd_slot *slot)
{
	uint64_t start = job->next, end = job->copy_size;

	if (job->next >= job->copy_size || job->in_eof) {
		return false;
	}
	if (g_dd_opts.sparse && !dd_sparse_chunk(job, &start, &end)) {
		job->in_eof = true;
		return false;
	}
	end = SPIO_MIN(end, SPIO_MIN(job->copy_size, start + g_dd_opts.bs));
	slot->in_off = job->in_start + start;
	slot->out_off = job->out_start + start;
	slot->len = end - start;
	job->next = end;
	return true;
}

static void dd_slot_next(struct dd_job *job, struct dd_slot *slot)
{
	if (job->stopping || !dd_take_chunk(job, slot)) {
		dd_slot_idle(job);
		return;
	}
	slot->op = DD_OP_READ;
	slot->got = 0;
	dd_slot_submit(job, slot, slot->buf, slot->in_off, dd_round_len(&job->in, slot->len));
}

/* Offset in the chunk of the output block that is only partly covered. */
static uint64_t dd_tail_start(const struct dd_job *job, const struct dd_slot *slot)
{
	return slot->len / job->out.block_size * job->out.block_size;
}

static void dd_slot_write(struct dd_job *job, struct dd_slot *slot)
{
	slot->op = DD_OP_WRITE;
	dd_slot_submit(job, slot, slot->buf, slot->out_off, dd_round_len(&job->out, slot->len));
}

void dd_io_done(struct dd_slot *slot, int64_t res, uint64_t expected)
{
	struct dd_job *job = &g_dd;
	uint64_t tail;

	if (res < 0) {
		dd_slot_fail(job, slot, g_op_names[slot->op], (int)-res);
		return;
	}
	switch (slot->op) {
	case DD_OP_READ:
		slot->got += (uint64_t)res;
		if (slot->got < slot->len && res > 0 && job->in.stream && !job->stopping) {
			/* a pipe gives what it holds: read on until the chunk is full */
			dd_slot_submit(job, slot, (char *)slot->buf + slot->got,
				       slot->in_off + slot->got, slot->len - slot->got);
			return;
		}
		/* a rounded-up O_DIRECT read may end early at the end of the file */
		if (slot->got < slot->len) {
			if (dd_first_failure(job)) {
				fprintf(stderr,
					"spio_dd: --if %s: short read at offset %" PRIu64
					": got %" PRIu64 " of %" PRIu64
					" bytes (the input ended early)\n",
					job->in.name, slot->in_off, slot->got, slot->len);
			}
			dd_slot_idle(job);
			return;
		}
		if (job->stopping) {
			dd_slot_idle(job);
			return;
		}
		if (slot->len % job->out.block_size != 0) {
			slot->op = DD_OP_POPULATE;
			dd_slot_submit(job, slot, slot->tail,
				       slot->out_off + dd_tail_start(job, slot),
				       job->out.block_size);
			return;
		}
		dd_slot_write(job, slot);
		return;
	case DD_OP_POPULATE:
		/* past the end of an output file there is nothing: zeros */
		memset((char *)slot->tail + res, 0, expected - (uint64_t)res);
		tail = dd_tail_start(job, slot);
		memcpy((char *)slot->buf + slot->len, (char *)slot->tail + (slot->len - tail),
		       job->out.block_size - (slot->len - tail));
		if (job->stopping) {
			dd_slot_idle(job);
			return;
		}
		dd_slot_write(job, slot);
		return;
	case DD_OP_WRITE:
		if ((uint64_t)res != expected) {
			if (dd_first_failure(job)) {
				fprintf(stderr,
					"spio_dd: --of %s: short write at offset %" PRIu64
					": %" PRId64 " of %" PRIu64
					" bytes written (device full?)\n",
					job->out.name, slot->io_off, res, expected);
			}
			dd_slot_idle(job);
			return;
		}
		job->copied += slot->len;
		dd_slot_next(job, slot);
		return;
	}
}

void dd_copy_start(struct dd_job *job)
{
	uint32_t i;

	job->tty = isatty(STDERR_FILENO) == 1;
	job->start_tick = job->last_tick = spio_get_ticks();
	job->progress_poller =
	    spio_poller_register_named(dd_progress_poll, job, DD_PROGRESS_PERIOD_US, "dd_progress");
	if (job->progress_poller == NULL) {
		fprintf(stderr, "spio_dd: cannot register the progress timer: %s\n",
			strerror(errno));
		job->exit_rc = DD_EXIT_FAIL;
		dd_job_end(job);
		return;
	}
	/* one count held over the loop: a slot failing at once cannot end the job under us */
	job->busy = 1;
	for (i = 0; i < job->nslots && !job->stopping; i++) {
		job->busy++;
		dd_slot_next(job, &job->slots[i]);
	}
	dd_slot_idle(job);
}
