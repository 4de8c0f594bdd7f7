/*
 * The fuzzers' thread registry and polling loops (shared_threads.h).
 */
#include <errno.h>

#include "spio/env.h"
#include "spio/thread.h"

#include "shared_threads.h"

static struct {
	struct spio_thread *threads[FT_MAX_THREADS];
	uint32_t nthreads;
} g_ft;

uint64_t ft_ms_to_ticks(uint64_t ms)
{
	return ms * spio_get_ticks_hz() / 1000;
}

int ft_thread_add(struct spio_thread *t)
{
	if (g_ft.nthreads == FT_MAX_THREADS) {
		return -ENOSPC;
	}
	g_ft.threads[g_ft.nthreads++] = t;
	return 0;
}

bool ft_pump(void)
{
	bool busy = false;

	for (uint32_t i = 0; i < g_ft.nthreads; i++) {
		if (!spio_thread_is_exited(g_ft.threads[i])) {
			busy |= spio_thread_poll(g_ft.threads[i], 0, 0) > 0;
		}
	}
	return busy;
}

bool ft_pump_quiet(uint32_t quiet_polls, uint64_t ms, bool (*more)(void *arg), void *arg)
{
	uint64_t limit = spio_get_ticks() + ft_ms_to_ticks(ms);
	uint32_t quiet = 0;

	while (quiet < quiet_polls) {
		bool busy = ft_pump();

		if (more != NULL) {
			busy |= more(arg);
		}
		quiet = busy ? 0 : quiet + 1;
		/* Only a busy round past the limit is a hang: a quiet one may still end the wait.
		 */
		if (busy && spio_get_ticks() > limit) {
			return false;
		}
	}
	return true;
}

bool ft_pump_until(bool (*done)(void *arg), void *arg, uint64_t ms)
{
	uint64_t limit = spio_get_ticks() + ft_ms_to_ticks(ms);

	while (!done(arg)) {
		if (spio_get_ticks() > limit) {
			return false;
		}
		ft_pump();
	}
	return true;
}

static bool all_exited(void *arg)
{
	(void)arg;
	for (uint32_t i = 0; i < g_ft.nthreads; i++) {
		if (!spio_thread_is_exited(g_ft.threads[i])) {
			return false;
		}
	}
	return true;
}

bool ft_threads_stop(uint64_t ms)
{
	for (uint32_t i = 0; i < g_ft.nthreads; i++) {
		spio_thread_exit(g_ft.threads[i]);
	}
	if (!ft_pump_until(all_exited, NULL, ms)) {
		return false;
	}
	for (uint32_t i = 0; i < g_ft.nthreads; i++) {
		spio_thread_destroy(g_ft.threads[i]);
	}
	g_ft.nthreads = 0;
	return true;
}
