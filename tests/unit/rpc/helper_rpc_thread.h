/* The RPC tests' own spio thread: its end, shared by test_rpc and test_rpc_daemon. */
#ifndef HELPER_RPC_THREAD_H
#define HELPER_RPC_THREAD_H

struct spio_thread;

/*
 * Ask `t` (the calling OS thread's current spio thread) to exit, poll it
 * until it has (a failed assertion if it does not: pollers left), destroy it
 * and finish the thread library.
 */
void rpc_test_thread_end(struct spio_thread *t);

#endif
