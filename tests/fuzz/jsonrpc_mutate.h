/*
 * Changes to a JSON tree that keep it valid, for the custom mutators of the
 * jsonrpc and json_config fuzzers (json_config.sources lists
 * jsonrpc_mutate.c): byte mutations mostly break the syntax, which tests
 * the refusals; these get requests and configurations past the parser to
 * the checks and the methods. One call makes one change: a number set to a
 * nearby or boundary value, a string replaced (by a method, subsystem or
 * bdev name of the seeds, or changed a little), a member or element
 * removed, an element duplicated (a request or entry twice), two elements
 * swapped (another order), a value's type changed.
 */
#ifndef SPIO_FUZZ_JSONRPC_MUTATE_H
#define SPIO_FUZZ_JSONRPC_MUTATE_H

#include <jansson.h>
#include <stdint.h>

/* Next pseudo-random number of the state `*r` (xorshift; *r must not be 0). */
uint64_t jf_rnd(uint64_t *r);

/* Make one change to the tree `root` (changed in place), chosen with `*r`. */
void jf_json_mutate(json_t *root, uint64_t *r);

#endif /* SPIO_FUZZ_JSONRPC_MUTATE_H */
