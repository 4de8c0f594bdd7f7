/* Private state of the thread runtime, shared by the files of lib/thread. */
#ifndef SPIO_THREAD_INTERNAL_H
#define SPIO_THREAD_INTERNAL_H

#include <pthread.h>
#include <sys/queue.h>

#include "spio/ring.h"
#include "spio/thread.h"

enum thread_state {
	THREAD_RUNNING = 0,
	THREAD_EXITING,
	THREAD_EXITED,
};

enum poller_state {
	POLLER_RUNNING = 0,
	POLLER_PAUSING, /* paused from inside a poll; moved at next visit */
	POLLER_PAUSED,
	POLLER_UNREGISTERED, /* freed at next visit */
};

struct timer_bucket; /* poller.c: the armed timed pollers of one period */

struct spio_poller {
	TAILQ_ENTRY(spio_poller) link; /* active, paused or timer bucket list */
	struct spio_thread *thread;
	spio_poller_fn fn;
	void *arg;
	uint64_t period_ticks;	     /* 0: active */
	uint64_t next_run;	     /* timed: deadline in ticks */
	struct timer_bucket *bucket; /* timed and armed: the bucket it is in, else NULL */
	enum poller_state state;
	uint64_t run_count;
	uint64_t busy_count;
	uint64_t id; /* from 1 per thread, in registration order (SPDK's poller ids) */
	int intr_fd; /* -1, or an fd in the thread's interrupt set (edge-triggered) */
	char name[64];
};

TAILQ_HEAD(poller_list, spio_poller);

struct thread_msg {
	spio_msg_fn fn;
	void *ctx;
};

struct spio_io_channel {
	TAILQ_ENTRY(spio_io_channel) link;
	struct spio_thread *thread;
	struct io_device *dev;
	uint32_t ref;
	bool destroy_pending;
	bool destroy_msg_queued; /* destroy_msg is in flight */
	struct spio_msg destroy_msg;
	/* ctx area follows, cache-line aligned */
};

TAILQ_HEAD(channel_list, spio_io_channel);

/*
 * What a sender touches after its message is visible: the sleeping flag and
 * the eventfd. The receiver may run the message and be destroyed at once, so
 * these live in type-stable slots that are recycled, never freed, while the
 * library lives: a late sender reads a recycled slot (at worst a spurious
 * wake-up of another thread), never freed memory or a closed fd number.
 */
struct thread_wake {
	int sleeping; /* between sleep_begin and sleep_end */
	int evfd;     /* -1 until an interrupt fd is first asked for; kept open */
	struct thread_wake *next_free;
	struct thread_wake *next_all;
};

struct thread_interrupt {
	int epfd;
	int tfd;
	uint64_t armed_deadline; /* tick the timerfd is armed for, 0 = disarmed */
};

struct spio_thread {
	/* Written by senders: keep apart from owner-only fields. */
	struct spio_ring *msgs; /* MP/SC ring of struct thread_msg pointers */
	/* Embedded messages (spio_thread_send_msg_embedded): a lock-free stack,
	 * newest first; the owner takes it whole and runs it oldest first. */
	struct spio_msg *embedded;
	struct thread_wake *wake __attribute__((aligned(64)));
	int state;

	/* Owner-only after creation. */
	uint64_t id __attribute__((aligned(64)));
	/* Embedded messages the thread sent itself (an I/O completed inside its
	 * submit call): a plain FIFO, no locked instruction. */
	struct spio_msg *local_head, *local_tail;
	char name[64];
	struct spio_cpuset cpumask;
	struct poller_list active_pollers;
	struct poller_list paused_pollers;
	struct timer_bucket **timers; /* binary min-heap on each bucket's first deadline */
	uint32_t timer_count;	      /* buckets in the heap: 0 iff no timed poller is armed */
	uint32_t timer_cap;
	uint32_t poller_count; /* registered, not unregistered */
	uint64_t last_poller_id;
	struct spio_poller *running_poller;
	struct channel_list channels; /* modified under g_devlist_lock */
	uint32_t channel_count;
	uint64_t exit_start_tsc;
	struct spio_thread_stats stats;
	uint64_t last_tsc;
	struct thread_interrupt *intr;
	uint32_t intr_fd_count;	       /* pollers with an interrupt fd */
	TAILQ_ENTRY(spio_thread) link; /* g_threads */
	uint8_t ctx[] __attribute__((aligned(64)));
};

/* thread.c */
extern pthread_mutex_t g_threads_lock;
bool thread_has_msgs(struct spio_thread *t);
TAILQ_HEAD(thread_list, spio_thread);
extern struct thread_list g_threads;
bool thread_lib_initialized(void);

/* poller.c */
int poller_run_active(struct spio_thread *t);
int poller_run_timed(struct spio_thread *t, uint64_t now);
void poller_free_all(struct spio_thread *t);
void poller_report(struct spio_thread *t);
int poller_add_intr_fds(struct spio_thread *t);

/* io_channel.c */
extern pthread_mutex_t g_devlist_lock;
void io_channel_report(struct spio_thread *t);
void io_channel_free_all(struct spio_thread *t);
void io_device_report_leftovers(void);

/* interrupt.c */
struct thread_wake *wake_slot_get(void);
void wake_slot_put(struct thread_wake *w);
void wake_slots_free_all(void);
void wake_slot_signal(struct thread_wake *w);
void interrupt_free(struct spio_thread *t);
int interrupt_add_fd(struct spio_thread *t, int fd);
void interrupt_del_fd(struct spio_thread *t, int fd);

/* work.c: stop the blocking-work threads (at library fini). */
void work_pool_stop(void);

#endif
