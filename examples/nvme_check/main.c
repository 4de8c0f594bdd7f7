/*
 * nvme_check: connect to an NVMe controller (TCP or PCIe), write a pattern
 * over a range of a namespace, read it back and verify, deallocate it, and
 * optionally ride out a target-side disconnect or a controller reset.
 * Sequential code in a task: each `_await` call suspends only the task while
 * the thread polls the controller.
 *
 *   nvme_check -r 'trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:4420 subnqn:NQN'
 *              [-n NSID] [-s MiB] [-o KiB] [-H] [-I] [--no-deallocate]
 *              [--disconnect-test | --reset-test] [--interrupts]
 *
 * -n picks the namespace (default: the first active one). With
 * --disconnect-test it then runs I/O until the connection drops (printing
 * IO_RUNNING first and IO_ERRORS_SEEN after), resets the controller until
 * the target is back, reconnects the queue and prints RECOVERED once an I/O
 * succeeds again. The interop tests drive the target side from those lines.
 * With --reset-test it resets the controller itself while writer tasks keep
 * commands outstanding, reconnects the queue and prints RESET_RECOVERED once
 * a block written after the reset reads back. With --interrupts it asks for
 * interrupt mode (PCIe: MSI-X) and sleeps on the thread's interrupt fd
 * whenever nothing is left to poll, then prints how often it slept and how
 * often the device woke it. Exit status 0 when every step worked.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/dma.h"
#include "spio/env.h"
#include "spio/nvme.h"
#include "spio/task.h"
#include "spio/thread.h"

#define RECOVERY_LIMIT_S 120
#define RESET_WRITERS 4

struct check {
	struct spio_nvme_transport_id trid;
	struct spio_nvme_ctrlr_opts opts;
	uint64_t size;
	uint32_t io_size;
	uint32_t nsid;
	bool deallocate;
	bool disconnect_test;
	bool reset_test;
	bool stop_writers;
	struct spio_nvme_ctrlr *ctrlr;
	bool interrupts; /* interrupt mode granted */
	struct spio_nvme_ns *ns;
	struct spio_nvme_qpair *qpair;
	struct spio_nvme_poll_group *group;
	uint8_t *wbuf, *rbuf;
	int result;
	bool done;
};

/* Every 8-byte word holds its own byte offset in the namespace, plus a seed. */
static void fill_pattern(uint8_t *buf, uint64_t offset, uint32_t len, uint64_t seed)
{
	for (uint32_t i = 0; i + 8 <= len; i += 8) {
		uint64_t v = (offset + i) ^ seed;

		memcpy(buf + i, &v, 8);
	}
}

static int io_range(struct check *ck, bool write, uint64_t seed)
{
	uint32_t bs = spio_nvme_ns_get_sector_size(ck->ns);
	struct spio_nvme_cpl cpl;

	for (uint64_t off = 0; off < ck->size; off += ck->io_size) {
		uint32_t len =
		    (uint32_t)(ck->size - off < ck->io_size ? ck->size - off : ck->io_size);
		int rc;

		if (write) {
			fill_pattern(ck->wbuf, off, len, seed);
			rc = spio_nvme_ns_cmd_write_await(ck->ns, ck->qpair, ck->wbuf, off / bs,
							  len / bs, 0, &cpl);
		} else {
			rc = spio_nvme_ns_cmd_read_await(ck->ns, ck->qpair, ck->rbuf, off / bs,
							 len / bs, 0, &cpl);
			fill_pattern(ck->wbuf, off, len, seed);
			if (rc == 0 && memcmp(ck->wbuf, ck->rbuf, len) != 0) {
				fprintf(stderr, "nvme_check: data mismatch at byte %lu\n",
					(unsigned long)off);
				return -EILSEQ;
			}
		}
		if (rc != 0) {
			fprintf(stderr,
				"nvme_check: %s at byte %lu failed: %s (sct %u sc 0x%02x)\n",
				write ? "write" : "read", (unsigned long)off, strerror(-rc),
				cpl.status.sct, cpl.status.sc);
			return rc;
		}
	}
	return 0;
}

static int deallocate(struct check *ck)
{
	uint32_t bs = spio_nvme_ns_get_sector_size(ck->ns);
	struct spio_nvme_dsm_range range = {.starting_lba = 0, .length = (uint32_t)(ck->size / bs)};
	struct spio_nvme_cpl cpl;
	int rc;

	rc = spio_nvme_ns_cmd_dataset_management_await(
	    ck->ns, ck->qpair, SPIO_NVME_DSM_ATTR_DEALLOCATE, &range, 1, &cpl);
	if (rc != 0) {
		fprintf(stderr, "nvme_check: deallocate failed: %s (sct %u sc 0x%02x)\n",
			strerror(-rc), cpl.status.sct, cpl.status.sc);
	}
	return rc;
}

/* Reset the controller until the target takes us back, then reconnect the queue. */
static int recover(struct check *ck)
{
	for (int i = 0; i < RECOVERY_LIMIT_S * 5; i++) {
		if (spio_nvme_ctrlr_reset_await(ck->ctrlr) == 0 &&
		    spio_nvme_qpair_connect_await(ck->qpair) == 0) {
			return 0;
		}
		spio_task_sleep_us(200 * 1000);
	}
	return -ETIMEDOUT;
}

static int disconnect_test(struct check *ck)
{
	uint32_t bs = spio_nvme_ns_get_sector_size(ck->ns);
	uint64_t lba = 0, blocks = ck->size / bs;
	bool announced = false;
	int rc;

	for (;;) {
		rc = spio_nvme_ns_cmd_write_await(ck->ns, ck->qpair, ck->wbuf, lba, 8, 0, NULL);
		if (rc != 0) {
			break;
		}
		if (!announced) {
			printf("IO_RUNNING\n");
			fflush(stdout);
			announced = true;
		}
		lba = (lba + 8) % (blocks - 8);
	}
	printf("IO_ERRORS_SEEN (%s)\n", strerror(-rc));
	fflush(stdout);
	rc = recover(ck);
	if (rc == 0) {
		fill_pattern(ck->wbuf, 0, 4096, 7);
		rc = spio_nvme_ns_cmd_write_await(ck->ns, ck->qpair, ck->wbuf, 0, 4096 / bs, 0,
						  NULL);
	}
	if (rc == 0) {
		rc =
		    spio_nvme_ns_cmd_read_await(ck->ns, ck->qpair, ck->rbuf, 0, 4096 / bs, 0, NULL);
	}
	if (rc == 0 && memcmp(ck->wbuf, ck->rbuf, 4096) != 0) {
		rc = -EILSEQ;
	}
	printf("%s\n", rc == 0 ? "RECOVERED" : "NOT_RECOVERED");
	return rc;
}

/* One writer of the reset test: keeps a 4 KiB write outstanding on its own blocks. */
struct writer {
	struct check *ck;
	uint8_t *buf;
	uint64_t lba;
	uint64_t done, failed;
	struct spio_task *task;
};

static int writer_task(void *arg)
{
	struct writer *w = arg;
	uint32_t blocks = 4096 / spio_nvme_ns_get_sector_size(w->ck->ns);

	while (!w->ck->stop_writers) {
		if (spio_nvme_ns_cmd_write_await(w->ck->ns, w->ck->qpair, w->buf, w->lba, blocks, 0,
						 NULL) == 0) {
			w->done++;
		} else {
			/* Expected around the reset: the queue is gone until reconnected. */
			w->failed++;
			spio_task_sleep_us(1000);
		}
	}
	return 0;
}

/* Write a 4 KiB pattern at block 0 and read it back. */
static int verify_block(struct check *ck, uint64_t seed)
{
	uint32_t blocks = 4096 / spio_nvme_ns_get_sector_size(ck->ns);
	int rc;

	fill_pattern(ck->wbuf, 0, 4096, seed);
	rc = spio_nvme_ns_cmd_write_await(ck->ns, ck->qpair, ck->wbuf, 0, blocks, 0, NULL);
	if (rc == 0) {
		rc = spio_nvme_ns_cmd_read_await(ck->ns, ck->qpair, ck->rbuf, 0, blocks, 0, NULL);
	}
	if (rc == 0 && memcmp(ck->wbuf, ck->rbuf, 4096) != 0) {
		rc = -EILSEQ;
	}
	return rc;
}

static int reset_test(struct check *ck)
{
	uint32_t blocks = 4096 / spio_nvme_ns_get_sector_size(ck->ns);
	struct writer w[RESET_WRITERS] = {0};
	uint64_t before = 0, done = 0, failed = 0;
	int rc = 0, n = 0;

	ck->stop_writers = false;
	for (; n < RESET_WRITERS; n++) {
		w[n] = (struct writer){.ck = ck, .lba = (uint64_t)(n + 1) * blocks};
		w[n].buf = spio_dma_malloc(4096, 4096);
		if (w[n].buf == NULL ||
		    spio_task_spawn(writer_task, &w[n], NULL, &w[n].task) != 0) {
			spio_dma_free(w[n].buf);
			rc = -ENOMEM;
			break;
		}
	}
	/* Let the writers get going, so that the reset finds commands outstanding. */
	for (int i = 0; rc == 0 && i < 5000 && before < 64; i++) {
		spio_task_sleep_us(1000);
		before = 0;
		for (int j = 0; j < n; j++) {
			before += w[j].done;
		}
	}
	if (rc == 0) {
		printf("IO_RUNNING\n");
		fflush(stdout);
		rc = spio_nvme_ctrlr_reset_await(ck->ctrlr);
		if (rc != 0) {
			fprintf(stderr, "nvme_check: reset failed: %s\n", strerror(-rc));
		}
	}
	ck->stop_writers = true;
	for (int j = 0; j < n; j++) {
		spio_task_join(w[j].task);
		done += w[j].done;
		failed += w[j].failed;
		spio_dma_free(w[j].buf);
	}
	if (rc != 0) {
		return rc;
	}
	printf("RESET_DONE: %lu writes before the reset, %lu in all, %lu failed around it\n",
	       (unsigned long)before, (unsigned long)done, (unsigned long)failed);
	/* The qpair disconnects itself at its next poll after the reset: reconnect it. */
	for (int i = 0; i < 500; i++) {
		rc = spio_nvme_qpair_connect_await(ck->qpair);
		if (rc == 0 || rc == -EALREADY) {
			rc = verify_block(ck, 11);
			if (rc == 0) {
				break;
			}
		}
		spio_task_sleep_us(10 * 1000);
	}
	if (rc != 0) {
		fprintf(stderr, "nvme_check: no I/O after the reset: %s\n", strerror(-rc));
	}
	printf("%s\n", rc == 0 ? "RESET_RECOVERED" : "NOT_RECOVERED");
	return rc;
}

static int run(struct check *ck)
{
	const struct spio_nvme_ctrlr_data *cd;
	int rc;

	rc = spio_nvme_connect_await(&ck->trid, &ck->opts, &ck->ctrlr);
	if (rc != 0) {
		fprintf(stderr, "nvme_check: connect failed: %s\n", strerror(-rc));
		return rc;
	}
	cd = spio_nvme_ctrlr_get_data(ck->ctrlr);
	/* What the controller got: interrupt mode falls back to polling without MSI-X. */
	ck->interrupts = spio_nvme_ctrlr_get_opts(ck->ctrlr)->enable_interrupts;
	ck->ns = spio_nvme_ctrlr_get_ns(
	    ck->ctrlr, ck->nsid != 0 ? ck->nsid : spio_nvme_ctrlr_get_first_active_ns(ck->ctrlr));
	printf("controller: %.40s serial %.20s cntlid %u, %u I/O queues, max transfer %u\n", cd->mn,
	       cd->sn, cd->cntlid, spio_nvme_ctrlr_get_num_io_queues(ck->ctrlr),
	       spio_nvme_ctrlr_get_max_xfer_size(ck->ctrlr));
	if (ck->ns == NULL) {
		fprintf(stderr, "nvme_check: no active namespace %u\n", ck->nsid);
		return -ENODEV;
	}
	printf("namespace %u: %lu blocks of %u bytes\n", spio_nvme_ns_get_id(ck->ns),
	       (unsigned long)spio_nvme_ns_get_num_sectors(ck->ns),
	       spio_nvme_ns_get_sector_size(ck->ns));
	if (ck->size > spio_nvme_ns_get_size(ck->ns)) {
		ck->size = spio_nvme_ns_get_size(ck->ns);
	}
	if (ck->io_size > spio_nvme_ctrlr_get_max_xfer_size(ck->ctrlr)) {
		ck->io_size = spio_nvme_ctrlr_get_max_xfer_size(ck->ctrlr);
	}
	ck->qpair = spio_nvme_ctrlr_alloc_io_qpair(ck->ctrlr, NULL, 0);
	if (ck->qpair == NULL || spio_nvme_poll_group_add(ck->group, ck->qpair) != 0) {
		fprintf(stderr, "nvme_check: no I/O queue: %s\n", strerror(errno));
		return -ENOMEM;
	}
	rc = spio_nvme_qpair_connect_await(ck->qpair);
	if (rc == 0) {
		rc = io_range(ck, true, 0x5eed);
	}
	if (rc == 0) {
		rc = io_range(ck, false, 0x5eed);
		printf("wrote and verified %lu MiB\n", (unsigned long)(ck->size >> 20));
	}
	if (rc == 0 && ck->deallocate) {
		rc = deallocate(ck);
		if (rc == 0) {
			printf("deallocated %lu MiB\n", (unsigned long)(ck->size >> 20));
		}
	}
	if (rc == 0 && ck->disconnect_test) {
		rc = disconnect_test(ck);
	}
	if (rc == 0 && ck->reset_test) {
		rc = reset_test(ck);
	}
	return rc;
}

static int check_task(void *arg)
{
	struct check *ck = arg;

	ck->result = run(ck);
	if (ck->qpair != NULL) {
		spio_nvme_poll_group_remove(ck->group, ck->qpair);
		spio_nvme_ctrlr_free_io_qpair(ck->qpair);
	}
	if (ck->ctrlr != NULL) {
		spio_nvme_detach_await(ck->ctrlr);
	}
	ck->done = true;
	return 0;
}

/*
 * Poll until done, sleeping on the thread's interrupt fd whenever no poller
 * needs polling: with interrupt mode the queue's MSI-X eventfd wakes it.
 */
static void run_sleeping(struct check *ck, struct spio_thread *thread)
{
	struct pollfd pfd = {.fd = spio_thread_get_interrupt_fd(thread), .events = POLLIN};
	unsigned long sleeps = 0, woken = 0;

	while (!ck->done) {
		spio_thread_poll(thread, 0, 0);
		if (ck->done || pfd.fd < 0 ||
		    spio_thread_has_active_pollers_without_interrupt(thread)) {
			continue;
		}
		if (spio_thread_sleep_begin(thread)) {
			sleeps++;
			woken += poll(&pfd, 1, 1000) == 1;
		}
		spio_thread_sleep_end(thread);
	}
	printf("interrupts: %s; slept %lu times, woken %lu times by an fd\n",
	       ck->interrupts ? "on" : "off", sleeps, woken);
}

static int parse_args(struct check *ck, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"no-deallocate", no_argument, NULL, 'D'},
	    {"disconnect-test", no_argument, NULL, 'X'},
	    {"reset-test", no_argument, NULL, 'R'},
	    {"interrupts", no_argument, NULL, 'Q'},
	    {NULL, 0, NULL, 0},
	};
	bool have_trid = false;
	int c;

	while ((c = getopt_long(argc, argv, "r:n:s:o:HI", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (spio_nvme_transport_id_parse(&ck->trid, optarg) != 0) {
				return -1;
			}
			have_trid = true;
			break;
		case 'n':
			ck->nsid = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 's':
			ck->size = strtoull(optarg, NULL, 10) << 20;
			break;
		case 'o':
			ck->io_size = (uint32_t)strtoul(optarg, NULL, 10) << 10;
			break;
		case 'H':
			ck->opts.header_digest = true;
			break;
		case 'I':
			ck->opts.data_digest = true;
			break;
		case 'D':
			ck->deallocate = false;
			break;
		case 'X':
			ck->disconnect_test = true;
			break;
		case 'R':
			ck->reset_test = true;
			break;
		case 'Q':
			ck->opts.enable_interrupts = true;
			break;
		default:
			return -1;
		}
	}
	if (!have_trid || ck->size == 0 || ck->io_size < 4096 || ck->io_size % 4096 != 0 ||
	    (ck->disconnect_test && ck->reset_test)) {
		fprintf(stderr,
			"usage: nvme_check -r TRID [-n NSID] [-s MiB] [-o KiB (multiple of 4)] "
			"[-H] [-I] [--no-deallocate] [--disconnect-test | --reset-test] "
			"[--interrupts]\n");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct check ck = {.size = 64ull << 20, .io_size = 128 * 1024, .deallocate = true};
	struct spio_env_opts eopts;
	struct spio_thread *thread;

	spio_nvme_ctrlr_get_default_opts(&ck.opts, sizeof(ck.opts));
	if (parse_args(&ck, argc, argv) != 0) {
		return 1;
	}
	spio_env_opts_init(&eopts, sizeof(eopts));
	eopts.name = "nvme_check";
	eopts.no_huge = true;
	if (spio_env_init(&eopts) != 0 || spio_thread_lib_init(NULL, 0) != 0) {
		fprintf(stderr, "nvme_check: cannot initialise spio\n");
		return 1;
	}
	thread = spio_thread_create("nvme_check", NULL);
	spio_set_thread(thread);
	ck.group = spio_nvme_poll_group_create();
	ck.wbuf = spio_dma_malloc(ck.io_size, 4096);
	ck.rbuf = spio_dma_malloc(ck.io_size, 4096);
	if (ck.group == NULL || ck.wbuf == NULL || ck.rbuf == NULL ||
	    spio_task_spawn(check_task, &ck, NULL, NULL) != 0) {
		fprintf(stderr, "nvme_check: out of memory\n");
		return 1;
	}
	if (ck.opts.enable_interrupts) {
		run_sleeping(&ck, thread);
	} else {
		while (!ck.done) {
			spio_thread_poll(thread, 0, 0);
		}
	}
	spio_nvme_poll_group_destroy(ck.group);
	spio_dma_free(ck.wbuf);
	spio_dma_free(ck.rbuf);
	printf("%s\n", ck.result == 0 ? "PASS" : "FAIL");
	return ck.result == 0 ? 0 : 1;
}
