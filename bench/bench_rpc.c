/*
 * bench_rpc: JSON-RPC round trips per second.
 *
 * The server runs on a spio_thread polled by a pthread (spinning); the client
 * is the main thread with a blocking Unix socket. Cases:
 *   sequential   one request in flight: send, wait for the answer, repeat
 *   pipelined16  16 requests per write, then their 16 answers
 *   in_process   spio_rpc_call() on the server thread (no socket): dispatch cost
 * All call spdk_get_version. One JSON line per case:
 *   {"bench":"rpc","case":"sequential","calls":20000,"seconds":...,
 *    "calls_per_s":...,"us_per_call":...}
 *
 * Usage: bench_rpc [calls]   (default 20000 per case)
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "spio/rpc.h"
#include "spio/thread.h"

static struct spio_thread *g_thread;
static atomic_bool g_stop;

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *poll_main(void *arg)
{
	(void)arg;
	while (!atomic_load_explicit(&g_stop, memory_order_relaxed)) {
		spio_thread_poll(g_thread, 0, 0);
	}
	return NULL;
}

struct server_call {
	void (*fn)(void *arg);
	void *arg;
	atomic_bool done;
};

static void server_call_msg(void *ctx)
{
	struct server_call *c = ctx;

	c->fn(c->arg);
	atomic_store(&c->done, true);
}

static int run_on_server(void (*fn)(void *arg), void *arg)
{
	struct server_call c = {.fn = fn, .arg = arg};

	if (spio_thread_send_msg(g_thread, server_call_msg, &c) != 0) {
		return -1;
	}
	while (!atomic_load(&c.done)) {
		usleep(10);
	}
	return 0;
}

struct start_args {
	const char *path;
	int rc;
};

static void do_start(void *arg)
{
	struct start_args *a = arg;

	a->rc = spio_rpc_server_start(a->path);
}

static void do_stop(void *arg)
{
	(void)arg;
	spio_rpc_server_stop();
}

static const char g_request[] = "{\"jsonrpc\":\"2.0\",\"method\":\"spdk_get_version\",\"id\":1}";

/* Read until `count` newline-terminated responses have arrived. */
static int read_responses(int fd, int count)
{
	static char buf[1 << 16];
	ssize_t n, i;

	while (count > 0) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0) {
			fprintf(stderr, "bench_rpc: recv: %s\n",
				n == 0 ? "closed" : strerror(errno));
			return -1;
		}
		for (i = 0; i < n; i++) {
			count -= buf[i] == '\n';
		}
	}
	return 0;
}

static int send_all(int fd, const char *data, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = send(fd, data, len, MSG_NOSIGNAL);
		if (n <= 0) {
			fprintf(stderr, "bench_rpc: send: %s\n", strerror(errno));
			return -1;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static void report(const char *name, uint64_t calls, double seconds)
{
	printf("{\"bench\":\"rpc\",\"case\":\"%s\",\"calls\":%llu,\"seconds\":%.6f,"
	       "\"calls_per_s\":%.0f,\"us_per_call\":%.3f}\n",
	       name, (unsigned long long)calls, seconds, (double)calls / seconds,
	       seconds * 1e6 / (double)calls);
	fflush(stdout);
}

static int bench_socket(const char *path, uint64_t calls, int depth)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	size_t one = strlen(g_request);
	char *batch = malloc(one * (size_t)depth);
	uint64_t done = 0;
	double start;
	int fd, i;

	for (i = 0; i < depth; i++) {
		memcpy(batch + one * (size_t)i, g_request, one);
	}
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		fprintf(stderr, "bench_rpc: connect %s: %s\n", path, strerror(errno));
		free(batch);
		return -1;
	}
	/* warm-up */
	if (send_all(fd, batch, one) != 0 || read_responses(fd, 1) != 0) {
		goto fail;
	}
	start = now_seconds();
	while (done < calls) {
		if (send_all(fd, batch, one * (size_t)depth) != 0 ||
		    read_responses(fd, depth) != 0) {
			goto fail;
		}
		done += (uint64_t)depth;
	}
	report(depth == 1 ? "sequential" : "pipelined16", done, now_seconds() - start);
	close(fd);
	free(batch);
	return 0;

fail:
	close(fd);
	free(batch);
	return -1;
}

struct inproc {
	uint64_t calls;
	uint64_t ok;
	double seconds;
};

static void inproc_cb(void *ctx, int error_code, const char *error_msg,
		      const struct spio_json_val *result)
{
	struct inproc *p = ctx;

	(void)error_msg;
	(void)result;
	p->ok += error_code == 0;
}

static void do_inproc(void *arg)
{
	struct inproc *p = arg;
	double start = now_seconds();
	uint64_t i;

	for (i = 0; i < p->calls; i++) {
		spio_rpc_call("spdk_get_version", NULL, inproc_cb, p);
	}
	p->seconds = now_seconds() - start;
}

int main(int argc, char **argv)
{
	uint64_t calls = 20000;
	struct start_args start;
	struct inproc inproc = {0};
	pthread_t poller;
	char path[108];
	int failed = 0;

	if (argc > 1) {
		char *end;

		calls = strtoull(argv[1], &end, 0);
		if (*argv[1] == '\0' || *end != '\0' || calls == 0) {
			fprintf(stderr, "usage: %s [calls]  (calls: a positive number, got '%s')\n",
				argv[0], argv[1]);
			return 2;
		}
	}
	if (spio_thread_lib_init(NULL, 0) != 0 ||
	    (g_thread = spio_thread_create("rpc", NULL)) == NULL) {
		fprintf(stderr, "bench_rpc: cannot create the server thread\n");
		return 1;
	}
	snprintf(path, sizeof(path), "/tmp/bench_rpc.%d.sock", (int)getpid());
	if (pthread_create(&poller, NULL, poll_main, NULL) != 0) {
		fprintf(stderr, "bench_rpc: pthread_create failed\n");
		return 1;
	}
	start.path = path;
	run_on_server(do_start, &start);
	if (start.rc != 0) {
		fprintf(stderr, "bench_rpc: server start on %s: %s\n", path, strerror(-start.rc));
		failed = 1;
		goto out;
	}

	failed |= bench_socket(path, calls, 1) != 0;
	failed |= bench_socket(path, (calls + 15) / 16 * 16, 16) != 0;
	inproc.calls = calls * 10;
	run_on_server(do_inproc, &inproc);
	if (inproc.ok != inproc.calls) {
		fprintf(stderr, "bench_rpc: in_process: %llu of %llu calls failed\n",
			(unsigned long long)(inproc.calls - inproc.ok),
			(unsigned long long)inproc.calls);
		failed = 1;
	} else {
		report("in_process", inproc.calls, inproc.seconds);
	}
	run_on_server(do_stop, NULL);

out:
	atomic_store(&g_stop, true);
	pthread_join(poller, NULL);
	{
		struct spio_thread *prev = spio_thread_enter(g_thread);

		spio_thread_exit(g_thread);
		spio_thread_leave(prev);
	}
	while (!spio_thread_is_exited(g_thread)) {
		spio_thread_poll(g_thread, 0, 0);
	}
	spio_thread_destroy(g_thread);
	spio_thread_lib_fini();
	return failed;
}
