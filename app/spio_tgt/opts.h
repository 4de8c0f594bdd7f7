/*
 * spio_tgt's command line (opts.c), apart from main() so that the
 * command-line fuzzer (tests/fuzz/fuzz_cmdline.c) drives the very parser the
 * program uses.
 */
#ifndef SPIO_TGT_OPTS_H
#define SPIO_TGT_OPTS_H

#include <stdbool.h>

#include "spio/app.h"

#define TGT_EXIT_OK 0
#define TGT_EXIT_FAIL 1
#define TGT_EXIT_USAGE 2

/* --metrics HOST:PORT (a string of argv, checked), or NULL: set by tgt_parse_args(). */
extern const char *g_tgt_metrics_addr;

/* The framework options spio_tgt starts from before its command line. */
void tgt_app_opts_init(struct spio_app_opts *app);

/*
 * Parse argv (argv[0] the program) into `app` (from tgt_app_opts_init()):
 * the common options and --metrics (into g_tgt_metrics_addr), no operand. Never exits: true to run;
 * false to exit with *exit_rc (TGT_EXIT_OK after -h or -v, TGT_EXIT_USAGE for a bad command line,
 * reported on stderr, TGT_EXIT_FAIL for no argv or out of memory). Strings in `app` point into
 * argv. Not thread-safe (getopt).
 */
bool tgt_parse_args(int argc, char **argv, struct spio_app_opts *app, int *exit_rc);

#endif /* SPIO_TGT_OPTS_H */
