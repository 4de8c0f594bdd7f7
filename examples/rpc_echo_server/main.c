/*
 * rpc_echo_server: the smallest JSON-RPC server built on spdk-io.
 *
 *   rpc_echo_server [SOCKET]     (default /var/tmp/spio.sock)
 *
 * Creates one spio_thread, starts the RPC server on it, registers a method
 * "echo" whose result is its params (null when there are none), and polls the
 * thread until SIGINT or SIGTERM; then stops the server (removing the socket)
 * and exits 0. Every built-in method (rpc_get_methods, spdk_get_version, ...)
 * is available too. Try it with app/spio_rpc:
 *
 *   spio_rpc -s /tmp/echo.sock echo --name Malloc0 --size 4096
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spio/rpc.h"
#include "spio/thread.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static void rpc_echo(struct spio_jsonrpc_request *req, const struct spio_json_val *params)
{
	struct spio_json_write_ctx *w = spio_jsonrpc_begin_result(req);
	char *text;

	if (w == NULL) {
		return;
	}
	if (params == NULL) {
		spio_json_write_null(w);
	} else {
		text = spio_json_dump(params);
		if (text == NULL) {
			/* an error response discards the result begun */
			spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
							 "Out of memory");
			return;
		}
		spio_json_write_val_raw(w, text, strlen(text));
		free(text);
	}
	spio_jsonrpc_end_result(req, w);
}
SPIO_RPC_REGISTER("echo", rpc_echo, SPIO_RPC_STARTUP | SPIO_RPC_RUNTIME)

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : SPIO_RPC_DEFAULT_SOCKET;
	struct sigaction sa = {.sa_handler = on_signal};
	struct spio_thread *thread;
	unsigned idle = 0;
	int rc;

	if (argc > 2 || (argc == 2 && (strcmp(argv[1], "-h") == 0 || argv[1][0] == '\0'))) {
		fprintf(stderr, "usage: %s [SOCKET]  (default %s)\n", argv[0],
			SPIO_RPC_DEFAULT_SOCKET);
		return argc == 2 && strcmp(argv[1], "-h") == 0 ? 0 : 64;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	rc = spio_thread_lib_init(NULL, 0);
	if (rc != 0) {
		fprintf(stderr, "rpc_echo_server: spio_thread_lib_init: %s\n", strerror(-rc));
		return 1;
	}
	thread = spio_thread_create("rpc", NULL);
	if (thread == NULL) {
		fprintf(stderr, "rpc_echo_server: spio_thread_create: %s\n", strerror(errno));
		spio_thread_lib_fini();
		return 1;
	}
	spio_set_thread(thread);
	rc = spio_rpc_server_start(path);
	if (rc != 0) {
		fprintf(stderr, "rpc_echo_server: cannot serve on %s: %s\n", path, strerror(-rc));
		goto out;
	}
	printf("rpc_echo_server: listening on %s\n", path);
	fflush(stdout);

	while (!g_stop) {
		if (spio_thread_poll(thread, 0, 0) == SPIO_POLLER_BUSY) {
			idle = 0;
		} else if (++idle > 1000) {
			usleep(100); /* nothing to do for a while: let the core rest */
		}
	}
	spio_rpc_server_stop();

out:
	spio_thread_exit(thread);
	while (!spio_thread_is_exited(thread)) {
		spio_thread_poll(thread, 0, 0);
	}
	spio_set_thread(NULL);
	spio_thread_destroy(thread);
	spio_thread_lib_fini();
	return rc == 0 ? 0 : 1;
}
