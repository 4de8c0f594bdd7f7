/*
 * The app framework's signal dispositions (issue 17, item 2): SIGPIPE,
 * SIGUSR1, SIGUSR2 and SIGALRM must not kill the daemon; SIGHUP stops it in
 * order (removing the RPC socket) unless it was ignored at start (nohup);
 * every disposition is restored when spio_app_start() returns.
 *
 * Each test raises the signals from its start_fn or a helper thread; a signal
 * left at its default would kill the test process, which Criterion reports as
 * a crash.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spio/app.h"
#include "spio/thread.h"

TestSuite(app_signals, .timeout = 60);

static struct {
	int shutdown_cb_calls;
	int write_rc;
	int write_errno;
	bool sock_existed;
	int sig;
	pthread_t helper;
	char sock[108];
} g;

static void opts_with_rpc(struct spio_app_opts *o)
{
	spio_app_opts_init(o, sizeof(*o));
	o->name = "test_app_signals";
	o->reactor_mask = "0x1";
	o->no_huge = true;
	snprintf(g.sock, sizeof(g.sock), "/tmp/spio_sig_test.%d.sock", (int)getpid());
	unlink(g.sock);
	o->rpc_addr = g.sock;
}

static void on_shutdown(void)
{
	g.shutdown_cb_calls++;
	spio_app_stop(0);
}

static void expect_disposition(int sig, void (*want)(int), const char *what)
{
	struct sigaction sa;

	cr_assert_eq(sigaction(sig, NULL, &sa), 0);
	cr_assert(sa.sa_handler == want, "%s after the app: expected the %s disposition back",
		  strsignal(sig), what);
}

/* Write into a pipe whose reader is gone: SIGPIPE, then EPIPE once it is ignored. */
static void start_sigpipe(void *arg)
{
	int fds[2];
	ssize_t n;

	(void)arg;
	g.sock_existed = access(g.sock, F_OK) == 0;
	cr_assert_eq(pipe(fds), 0);
	close(fds[0]);
	n = write(fds[1], "x", 1);
	g.write_rc = (int)n;
	g.write_errno = n < 0 ? errno : 0;
	close(fds[1]);
	/* a log line on a broken stderr must not kill either */
	fflush(stderr);
	spio_app_stop(0);
}

Test(app_signals, sigpipe_is_ignored_and_writes_fail_with_epipe)
{
	struct spio_app_opts o;
	int rc;

	opts_with_rpc(&o);
	rc = spio_app_start(&o, start_sigpipe, NULL);
	cr_assert_eq(rc, 0, "expected the app to stop with 0, got %d", rc);
	cr_assert(g.sock_existed, "the RPC socket %s should exist while the app runs", g.sock);
	cr_assert(g.write_rc == -1 && g.write_errno == EPIPE,
		  "write to a pipe without a reader: expected -1 EPIPE, got %d (%s)", g.write_rc,
		  strerror(g.write_errno));
	expect_disposition(SIGPIPE, SIG_DFL, "default");
}

static void start_raise_ignored(void *arg)
{
	(void)arg;
	raise(SIGUSR1);
	raise(SIGUSR2);
	raise(SIGALRM);
	raise(SIGPIPE);
	spio_app_stop(7);
}

Test(app_signals, usr1_usr2_alrm_are_ignored)
{
	struct spio_app_opts o;
	int rc;

	opts_with_rpc(&o);
	o.shutdown_cb = on_shutdown;
	rc = spio_app_start(&o, start_raise_ignored, NULL);
	cr_assert_eq(rc, 7, "expected the app's own stop code 7, got %d", rc);
	cr_assert_eq(g.shutdown_cb_calls, 0,
		     "an ignored signal must not start a shutdown; shutdown_cb ran %d times",
		     g.shutdown_cb_calls);
	expect_disposition(SIGUSR1, SIG_DFL, "default");
	expect_disposition(SIGUSR2, SIG_DFL, "default");
	expect_disposition(SIGALRM, SIG_DFL, "default");
}

static void *raise_later(void *arg)
{
	(void)arg;
	usleep(50 * 1000);
	raise(g.sig);
	return NULL;
}

static void start_helper(void *arg)
{
	(void)arg;
	g.sock_existed = access(g.sock, F_OK) == 0;
	pthread_create(&g.helper, NULL, raise_later, NULL);
}

Test(app_signals, sighup_stops_cleanly_and_removes_the_socket)
{
	struct spio_app_opts o;
	int rc;

	opts_with_rpc(&o);
	o.shutdown_cb = on_shutdown;
	g.sig = SIGHUP;
	rc = spio_app_start(&o, start_helper, NULL);
	pthread_join(g.helper, NULL);
	cr_assert_eq(rc, 0, "SIGHUP: expected a clean stop with 0, got %d", rc);
	cr_assert_eq(g.shutdown_cb_calls, 1, "SIGHUP: expected shutdown_cb once, got %d",
		     g.shutdown_cb_calls);
	cr_assert(g.sock_existed, "the RPC socket should exist while the app runs");
	cr_assert_neq(access(g.sock, F_OK), 0, "socket %s left behind after SIGHUP", g.sock);
	expect_disposition(SIGHUP, SIG_DFL, "default");
}

static void *raise_then_stop(void *arg)
{
	(void)arg;
	usleep(20 * 1000);
	raise(SIGHUP);
	usleep(100 * 1000); /* a shutdown would have started by now */
	spio_app_stop(5);
	return NULL;
}

static void start_nohup(void *arg)
{
	(void)arg;
	pthread_create(&g.helper, NULL, raise_then_stop, NULL);
}

Test(app_signals, sighup_stays_ignored_under_nohup)
{
	struct sigaction ign = {.sa_handler = SIG_IGN};
	struct spio_app_opts o;
	int rc;

	sigemptyset(&ign.sa_mask);
	cr_assert_eq(sigaction(SIGHUP, &ign, NULL), 0);
	opts_with_rpc(&o);
	o.shutdown_cb = on_shutdown;
	rc = spio_app_start(&o, start_nohup, NULL);
	pthread_join(g.helper, NULL);
	cr_assert_eq(rc, 5, "expected the helper's stop code 5, got %d", rc);
	cr_assert_eq(g.shutdown_cb_calls, 0,
		     "SIGHUP ignored at start must stay ignored; shutdown_cb ran %d times",
		     g.shutdown_cb_calls);
	expect_disposition(SIGHUP, SIG_IGN, "ignored");
}
