/*
 * spio_rpc's command line (opts.c): the options and the request built from
 * them, apart from main() so that the command-line fuzzer
 * (tests/fuzz/fuzz_cmdline.c) drives the very parser the program uses.
 */
#ifndef SPIO_RPC_OPTS_H
#define SPIO_RPC_OPTS_H

#include <stdbool.h>

/* Exit status (docs/rpc.md). */
#define RPC_EXIT_OK 0
#define RPC_EXIT_ERROR 1 /* the server answered with a JSON-RPC error */
#define RPC_EXIT_CONN 2	 /* no server, timeout, closed, bad answer */
#define RPC_EXIT_USAGE 64

/* Name in messages: the basename of argv[0] of the last parse, else "spio_rpc". */
extern const char *g_rpc_prog;

struct rpc_args {
	const char *path;   /* -s: Unix socket of the server (points into argv or static) */
	double timeout;	    /* -t: seconds; 0 waits forever */
	const char *method; /* points into argv */
	char *request;	    /* the JSON-RPC request to send, compact; rpc_args_fini() frees */
};

/*
 * Parse argv (argv[0] the program) into *args and build the request (id 1,
 * params from --KEY [VALUE] pairs or the call form's JSON). Never exits:
 * true to send it; false to exit with *exit_rc (RPC_EXIT_OK after -h,
 * RPC_EXIT_USAGE for a bad command line, reported on stderr, RPC_EXIT_CONN
 * out of memory). Call rpc_args_fini() afterwards in either case. Not
 * thread-safe (getopt, g_rpc_prog).
 */
bool rpc_parse_args(int argc, char **argv, struct rpc_args *args, int *exit_rc);

/* Free what rpc_parse_args() allocated in *args. */
void rpc_args_fini(struct rpc_args *args);

#endif /* SPIO_RPC_OPTS_H */
