/* Waiting for something to happen in the NVMe tests: see helper_nvme_wait.h. */
#include "helper_nvme_wait.h"

#include <criterion/criterion.h>

#include "spio/env.h"
#include "spio/nvme.h"

static void (*g_wait_poll)(void);
static struct spio_nvme_qpair **g_wait_qpair;
static struct spio_thread *g_wait_thread;

void io_done(void *arg, const struct spio_nvme_cpl *cpl)
{
	struct io_result *r = arg;

	r->count++;
	r->cpl = *cpl;
}

void wait_set_poll(void (*poll)(void))
{
	g_wait_poll = poll;
}

void poll_all(void)
{
	if (g_wait_poll != NULL) {
		g_wait_poll();
	}
}

void poll_threads(struct spio_thread *const *threads, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (threads[i] != NULL && !spio_thread_is_exited(threads[i])) {
			spio_thread_poll(threads[i], 0, 0);
		}
	}
}

static void poll_qpair_thread(void)
{
	if (*g_wait_qpair != NULL) {
		spio_nvme_qpair_process_completions(*g_wait_qpair, 0);
	}
	spio_thread_poll(g_wait_thread, 0, 0);
}

void wait_set_qpair_thread(struct spio_nvme_qpair **qpair, struct spio_thread *thread)
{
	g_wait_qpair = qpair;
	g_wait_thread = thread;
	g_wait_poll = poll_qpair_thread;
}

bool poll_until(bool (*done)(void *), void *arg)
{
	uint64_t limit = spio_get_ticks() + (uint64_t)WAIT_MS * spio_get_ticks_hz() / 1000;

	while (!done(arg)) {
		if (spio_get_ticks() > limit) {
			return false;
		}
		poll_all();
	}
	return true;
}

static bool result_in(void *arg)
{
	return ((struct io_result *)arg)->count > 0;
}

void wait_result(struct io_result *r, const char *what)
{
	cr_assert(poll_until(result_in, r), "%s: no completion within %d ms", what, WAIT_MS);
}

void expect_success(const struct io_result *r, const char *what)
{
	cr_assert_eq(r->count, 1, "%s: expected 1 completion, got %d", what, r->count);
	cr_assert(!spio_nvme_cpl_is_error(&r->cpl), "%s: expected success, got sct %u sc 0x%02x",
		  what, r->cpl.status.sct, r->cpl.status.sc);
}
