/*
 * Which RPC methods a fuzzer lets its input call, and caps on the
 * parameters that size memory. Shared by the jsonrpc and json_config
 * fuzzers (json_config.sources lists jsonrpc_methods.c).
 *
 * Every method the library registers stays registered; those not on the
 * caller's list are refused, either by state (their state mask is cleared,
 * so the server answers -1 in every state) or by an error answer (-32601,
 * so a configuration entry naming one fails as a failing method does).
 * Methods with a cap are wrapped: a value above it is refused with -32602
 * before the method runs; a value the check cannot read (a wrong type) is
 * passed on for the method to refuse.
 */
#ifndef SPIO_FUZZ_JSONRPC_METHODS_H
#define SPIO_FUZZ_JSONRPC_METHODS_H

#include <stddef.h>

enum jf_refuse {
	JF_REFUSE_BY_STATE,
	JF_REFUSE_BY_ERROR,
};

/*
 * Restrict the registered methods to the `n` names of `allowed` and wrap
 * the capped ones. Call once, before any request runs.
 */
void jf_methods_restrict(const char *const *allowed, size_t n, enum jf_refuse how);

#endif /* SPIO_FUZZ_JSONRPC_METHODS_H */
