/*
 * Embedded messages (spio_thread_send_msg_embedded): delivered when the
 * message queue is full, in order per sender, resendable from their own
 * handler, waking a sleeping thread, refused after exit; many senders at
 * once (TSan). And wrong-thread spio_put_io_channel() changes nothing.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>

#include "spio/thread.h"

static void lib_init(void)
{
	cr_assert_eq(spio_thread_lib_init(NULL, 0), 0);
}

static void lib_fini(void)
{
	spio_thread_lib_fini();
}

static void finish(struct spio_thread *t)
{
	struct spio_thread *prev = spio_thread_enter(t);

	cr_assert_eq(spio_thread_exit(t), 0);
	spio_thread_leave(prev);
	for (int i = 0; i < 1000000 && !spio_thread_is_exited(t); i++) {
		spio_thread_poll(t, 0, 0);
	}
	cr_assert(spio_thread_is_exited(t), "thread %s did not exit", spio_thread_get_name(t));
	spio_thread_destroy(t);
}

static void poll_until_idle(struct spio_thread *t)
{
	struct spio_thread *prev = spio_thread_enter(t);

	while (spio_thread_poll(t, 1024, 0) == SPIO_POLLER_BUSY) {
	}
	spio_thread_leave(prev);
}

static int g_noops;

static void noop(void *ctx)
{
	(void)ctx;
	g_noops++;
}

/* Send no-op messages to `t` until its queue refuses one; returns how many went in. */
static int flood(struct spio_thread *t)
{
	int n = 0;
	int rc;

	while ((rc = spio_thread_send_msg(t, noop, NULL)) == 0) {
		n++;
	}
	cr_assert_eq(rc, -ENOMEM, "flooding: expected -ENOMEM once full, got %d after %d", rc, n);
	return n;
}

struct rec {
	int order[8];
	int n;
};

struct tagged {
	struct spio_msg msg;
	struct rec *rec;
	int tag;
};

static void record(void *ctx)
{
	struct tagged *t = ctx;

	t->rec->order[t->rec->n++] = t->tag;
}

Test(msg_embedded, delivered_when_the_queue_is_full_in_sender_order, .init = lib_init,
     .fini = lib_fini)
{
	struct spio_thread *t = spio_thread_create("full", NULL);
	struct rec rec = {0};
	struct tagged m[5];
	int flooded;

	cr_assert_not_null(t);
	g_noops = 0;
	flooded = flood(t);
	for (int i = 0; i < 5; i++) {
		m[i] = (struct tagged){.rec = &rec, .tag = i};
		cr_assert_eq(spio_thread_send_msg_embedded(t, &m[i].msg, record, &m[i]), 0,
			     "embedded message %d refused with a full queue", i);
	}
	poll_until_idle(t);
	cr_assert_eq(g_noops, flooded, "expected %d queued messages to run, got %d", flooded,
		     g_noops);
	cr_assert_eq(rec.n, 5, "expected 5 embedded messages to run, got %d", rec.n);
	for (int i = 0; i < 5; i++) {
		cr_assert_eq(rec.order[i], i, "position %d: expected message %d, got %d", i, i,
			     rec.order[i]);
	}
	finish(t);
}

struct hopper {
	struct spio_msg msg;
	struct spio_thread *t;
	int left;
	int runs;
};

static void hop(void *ctx)
{
	struct hopper *h = ctx;

	h->runs++;
	if (--h->left > 0) {
		cr_assert_eq(spio_thread_send_msg_embedded(h->t, &h->msg, hop, h), 0);
	}
}

Test(msg_embedded, resent_from_its_own_handler, .init = lib_init, .fini = lib_fini)
{
	struct spio_thread *t = spio_thread_create("hop", NULL);
	struct hopper h = {.t = t, .left = 100};

	cr_assert_eq(spio_thread_send_msg_embedded(t, &h.msg, hop, &h), 0);
	poll_until_idle(t);
	cr_assert_eq(h.runs, 100, "expected 100 runs, got %d", h.runs);
	finish(t);
}

/* A thread's messages to itself take the owner's FIFO: in order, each once,
 * also interleaved with messages from another sender. */
Test(msg_embedded, sent_to_itself_in_order, .init = lib_init, .fini = lib_fini)
{
	struct spio_thread *t = spio_thread_create("self", NULL);
	struct rec rec = {0};
	struct tagged m[6];
	struct spio_thread *prev;

	for (int i = 0; i < 6; i++) {
		m[i] = (struct tagged){.rec = &rec, .tag = i};
	}
	prev = spio_thread_enter(t);
	cr_assert_eq(spio_thread_send_msg_embedded(t, &m[0].msg, record, &m[0]), 0);
	cr_assert_eq(spio_thread_send_msg_embedded(t, &m[1].msg, record, &m[1]), 0);
	spio_thread_leave(prev);
	/* from outside (this OS thread no longer runs t): the lock-free stack */
	cr_assert_eq(spio_thread_send_msg_embedded(t, &m[4].msg, record, &m[4]), 0);
	prev = spio_thread_enter(t);
	cr_assert_eq(spio_thread_send_msg_embedded(t, &m[2].msg, record, &m[2]), 0);
	cr_assert_eq(spio_thread_send_msg_embedded(t, &m[3].msg, record, &m[3]), 0);
	spio_thread_leave(prev);
	cr_assert_eq(spio_thread_send_msg_embedded(t, &m[5].msg, record, &m[5]), 0);
	poll_until_idle(t);
	cr_assert_eq(rec.n, 6, "expected 6 messages to run once each, got %d", rec.n);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(rec.order[i], i, "self-sent position %d: got %d", i, rec.order[i]);
	}
	cr_assert(rec.order[4] == 4 && rec.order[5] == 5, "the other sender's, in its order");
	finish(t);
}

Test(msg_embedded, bad_arguments_and_exited_thread, .init = lib_init, .fini = lib_fini)
{
	struct spio_thread *t = spio_thread_create("bad", NULL);
	struct spio_thread *prev;
	struct spio_msg m = {0};

	cr_assert_eq(spio_thread_send_msg_embedded(NULL, &m, noop, NULL), -EINVAL);
	cr_assert_eq(spio_thread_send_msg_embedded(t, NULL, noop, NULL), -EINVAL);
	cr_assert_eq(spio_thread_send_msg_embedded(t, &m, NULL, NULL), -EINVAL);
	prev = spio_thread_enter(t);
	cr_assert_eq(spio_thread_exit(t), 0);
	spio_thread_leave(prev);
	for (int i = 0; i < 1000 && !spio_thread_is_exited(t); i++) {
		spio_thread_poll(t, 0, 0);
	}
	cr_assert(spio_thread_is_exited(t));
	cr_assert_eq(spio_thread_send_msg_embedded(t, &m, noop, NULL), -EIO);
	spio_thread_destroy(t);
}

Test(msg_embedded, a_pending_message_keeps_an_exiting_thread_alive, .init = lib_init,
     .fini = lib_fini)
{
	struct spio_thread *t = spio_thread_create("exiting", NULL);
	struct rec rec = {0};
	struct tagged m = {.rec = &rec, .tag = 7};
	struct spio_thread *prev = spio_thread_enter(t);

	cr_assert_eq(spio_thread_exit(t), 0);
	spio_thread_leave(prev);
	cr_assert_eq(spio_thread_send_msg_embedded(t, &m.msg, record, &m), 0);
	finish(t);
	cr_assert_eq(rec.n, 1, "the message sent during exit must run before the thread exits");
}

Test(msg_embedded, wakes_a_sleeping_thread, .init = lib_init, .fini = lib_fini)
{
	struct spio_thread *t = spio_thread_create("sleeper", NULL);
	struct rec rec = {0};
	struct tagged m = {.rec = &rec, .tag = 1};
	int fd = spio_thread_get_interrupt_fd(t);
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	cr_assert_geq(fd, 0);
	cr_assert(spio_thread_sleep_begin(t), "nothing pending: the thread may sleep");
	cr_assert_eq(spio_thread_send_msg_embedded(t, &m.msg, record, &m), 0);
	cr_assert_eq(poll(&pfd, 1, 10000), 1, "a sleeping thread must be woken");
	spio_thread_sleep_end(t);
	/* a message pending before sleep_begin forbids sleeping */
	poll_until_idle(t);
	cr_assert_eq(rec.n, 1);
	cr_assert_eq(spio_thread_send_msg_embedded(t, &m.msg, record, &m), 0);
	cr_assert(!spio_thread_sleep_begin(t), "an embedded message is pending: no sleep");
	poll_until_idle(t);
	cr_assert_eq(rec.n, 2);
	finish(t);
}

/* Several OS threads send embedded messages to one spio thread at once; each
 * message is reused only after it ran. Every message runs exactly once. */
#define SENDERS 4
#define PER_SENDER 20000
#define SLOTS 64

struct sender {
	pthread_t tid;
	struct spio_thread *target;
	struct spio_msg msgs[SLOTS];
	int busy[SLOTS]; /* 1 while in flight; cleared by the handler */
	int id;
	uint64_t runs; /* handler side (target thread only) */
	uint64_t sum;  /* handler side: sum of delivered sequence numbers */
	uint64_t seq[SLOTS];
};

static struct sender g_senders[SENDERS];

static void stress_handler(void *ctx)
{
	struct spio_msg *m = ctx;
	struct sender *s = NULL;
	size_t slot;

	/* the sender and slot are found from the message's address */
	for (int i = 0; i < SENDERS; i++) {
		if (m >= g_senders[i].msgs && m < g_senders[i].msgs + SLOTS) {
			s = &g_senders[i];
		}
	}
	cr_assert_not_null(s);
	slot = (size_t)(m - s->msgs);
	s->runs++;
	s->sum += __atomic_load_n(&s->seq[slot], __ATOMIC_RELAXED);
	__atomic_store_n(&s->busy[slot], 0, __ATOMIC_RELEASE);
}

static void *sender_main(void *arg)
{
	struct sender *s = arg;
	uint64_t sent = 0;

	while (sent < PER_SENDER) {
		for (int slot = 0; slot < SLOTS && sent < PER_SENDER; slot++) {
			if (__atomic_load_n(&s->busy[slot], __ATOMIC_ACQUIRE)) {
				continue;
			}
			s->busy[slot] = 1;
			sent++;
			__atomic_store_n(&s->seq[slot], sent, __ATOMIC_RELAXED);
			if (spio_thread_send_msg_embedded(s->target, &s->msgs[slot], stress_handler,
							  &s->msgs[slot]) != 0) {
				abort();
			}
		}
	}
	return NULL;
}

Test(msg_embedded, many_senders_each_message_runs_once, .init = lib_init, .fini = lib_fini,
     .timeout = 120)
{
	struct spio_thread *t = spio_thread_create("target", NULL);
	uint64_t total = 0;
	const uint64_t want_sum = (uint64_t)PER_SENDER * (PER_SENDER + 1) / 2;

	for (int i = 0; i < SENDERS; i++) {
		g_senders[i] = (struct sender){.target = t, .id = i};
		cr_assert_eq(pthread_create(&g_senders[i].tid, NULL, sender_main, &g_senders[i]),
			     0);
	}
	while (total < (uint64_t)SENDERS * PER_SENDER) {
		struct spio_thread *prev = spio_thread_enter(t);

		spio_thread_poll(t, 0, 0);
		spio_thread_leave(prev);
		total = 0;
		for (int i = 0; i < SENDERS; i++) {
			total += g_senders[i].runs;
		}
	}
	for (int i = 0; i < SENDERS; i++) {
		pthread_join(g_senders[i].tid, NULL);
	}
	poll_until_idle(t);
	for (int i = 0; i < SENDERS; i++) {
		cr_assert_eq(g_senders[i].runs, PER_SENDER, "sender %d: %lu of %d messages ran", i,
			     (unsigned long)g_senders[i].runs, PER_SENDER);
		cr_assert_eq(g_senders[i].sum, want_sum,
			     "sender %d: sequence sum %lu, expected %lu (a message ran twice or "
			     "not at all)",
			     i, (unsigned long)g_senders[i].sum, (unsigned long)want_sum);
	}
	finish(t);
}

static int dev_create(void *io_device, void *ctx)
{
	(void)io_device;
	(void)ctx;
	return 0;
}

static void dev_destroy(void *io_device, void *ctx)
{
	(void)io_device;
	(void)ctx;
}

static int g_dev;

Test(msg_embedded, put_io_channel_on_the_wrong_thread_changes_nothing, .init = lib_init,
     .fini = lib_fini)
{
	struct spio_thread *a = spio_thread_create("a", NULL);
	struct spio_thread *b = spio_thread_create("b", NULL);
	struct spio_io_channel *ch;
	struct spio_thread *prev = spio_thread_enter(a);

	cr_assert_eq(spio_io_device_register(&g_dev, dev_create, dev_destroy, 8, "dev"), 0);
	ch = spio_get_io_channel(&g_dev);
	cr_assert_not_null(ch);
	spio_thread_leave(prev);

	prev = spio_thread_enter(b);
	cr_assert_eq(spio_put_io_channel(ch), -EINVAL, "put on a thread that does not own it");
	spio_thread_leave(prev);

	prev = spio_thread_enter(a);
	/* still referenced: getting it again returns the same channel */
	cr_assert_eq(spio_get_io_channel(&g_dev), ch);
	cr_assert_eq(spio_put_io_channel(ch), 0);
	cr_assert_eq(spio_put_io_channel(ch), 0);
	cr_assert_eq(spio_put_io_channel(NULL), -EINVAL);
	cr_assert_eq(spio_io_device_unregister(&g_dev, NULL), 0);
	spio_thread_leave(prev);
	poll_until_idle(a);
	finish(a);
	finish(b);
}

/* A message that always sends itself again: a steady stream, as inline I/O
 * completions make. Queued messages must still run beside it. */
struct forever {
	struct spio_msg msg;
	struct spio_thread *t;
	uint64_t runs;
};

static void again(void *ctx)
{
	struct forever *f = ctx;

	f->runs++;
	spio_thread_send_msg_embedded(f->t, &f->msg, again, f);
}

Test(msg_embedded, a_steady_stream_does_not_starve_the_queue, .init = lib_init, .fini = lib_fini)
{
	struct spio_thread *t = spio_thread_create("stream", NULL);
	struct forever f[64];
	struct spio_thread *prev;

	g_noops = 0;
	for (int i = 0; i < 64; i++) {
		f[i] = (struct forever){.t = t};
		cr_assert_eq(spio_thread_send_msg_embedded(t, &f[i].msg, again, &f[i]), 0);
	}
	cr_assert_eq(spio_thread_send_msg(t, noop, NULL), 0);
	prev = spio_thread_enter(t);
	for (int i = 0; i < 100 && g_noops == 0; i++) {
		/* max 8 messages per poll, far fewer than the 64 streaming */
		spio_thread_poll(t, 8, 0);
	}
	cr_assert_eq(g_noops, 1, "the queued message starved behind embedded ones");
	cr_assert_geq(f[0].runs, 1);
	/* stop the stream: a send to NULL is refused, so one more poll ends it */
	for (int i = 0; i < 64; i++) {
		f[i].t = NULL;
	}
	spio_thread_poll(t, 0, 0);
	spio_thread_leave(prev);
	finish(t);
}
