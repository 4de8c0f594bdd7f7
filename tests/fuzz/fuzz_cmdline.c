/*
 * Fuzzer: the command lines of spio_perf, spio_rpc and spio_tgt, through the
 * very parsers their main() calls (app/<prog>/opts.c, and behind spio_perf
 * and spio_tgt the common parser lib/event/app_args.c). Parse only: no
 * reactor starts, no socket is opened.
 *
 * Input: one selector byte, then argv as NUL-separated strings (the last
 * one need not end in NUL). Selector bits 0-1: the program (0 spio_perf,
 * 1 spio_rpc, 2 spio_tgt, 3 spio_perf again); bit 7: argv[0] comes from the
 * input too (else it is the program's name, and the strings are argv[1..]).
 * Each string is a malloc of its exact size and argv holds exactly argc + 1
 * pointers, so that a read past either is an ASan report.
 *
 * What aborts, besides sanitizer reports and leaks:
 * - exit() called from inside a parser (an atexit handler sees it);
 * - an exit status other than run, help (0) or a usage error (2, spio_rpc
 *   64), or 1 for anything but an empty argv; a usage error with nothing on
 *   stderr, help with nothing on stdout, a successful parse that printed;
 * - the argv strings changed, or opterr not restored;
 * - results out of the documented ranges (queue depth, I/O size, core mask,
 *   ...);
 * - spio_rpc: a request that is not a JSON-RPC 2.0 object with id 1 and the
 *   method asked for, and params an object or an array, read back by
 *   jansson and by spdk-io's own parser (the server's);
 * - a second parse of the same argv, after the first one left getopt's
 *   state behind, that differs in any way: status, results, stdout, stderr.
 *
 * stdout and stderr are memory streams while a parser runs, so help and
 * messages are compared rather than printed. FUZZ_VERBOSE=1 prints them.
 */
#define _GNU_SOURCE /* open_memstream */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spio/app.h"
#include "spio/cpuset.h"
#include "spio/json_val.h"
#include "spio/util.h"

#include "../../app/spio_perf/opts.h"
#include "../../app/spio_rpc/opts.h"
#include "../../app/spio_tgt/opts.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SEL_PROG_MASK 0x03
#define SEL_ARGV0 0x80
/* More arguments than any real command line; the rest of the input is ignored. */
#define MAX_ARGS 512

enum prog {
	PROG_PERF,
	PROG_RPC,
	PROG_TGT,
};

static const char *const g_prog_names[] = {"spio_perf", "spio_rpc", "spio_tgt"};

/* What one parse did. */
struct outcome {
	bool run; /* the program would go on */
	int exit_rc;
	char *out, *err, *result; /* stdout, stderr, the parsed options as text */
	size_t out_len, err_len, result_len;
};

static volatile bool g_in_parse;
static bool g_verbose;

#define FAIL(...)                                              \
	do {                                                   \
		fprintf(stderr, "fuzz_cmdline: " __VA_ARGS__); \
		fprintf(stderr, "\n");                         \
		abort();                                       \
	} while (0)

static void exit_guard(void)
{
	if (g_in_parse) {
		/* stderr may be a memory stream now: straight to the descriptor */
		static const char msg[] = "fuzz_cmdline: a parser called exit()\n";

		(void)!write(2, msg, sizeof(msg) - 1);
		abort();
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *v = getenv("FUZZ_VERBOSE");

	(void)argc;
	(void)argv;
	g_verbose = v != NULL && strcmp(v, "1") == 0;
	atexit(exit_guard);
	return 0;
}

/*
 * Results as text
 */

static void put_str(FILE *f, const char *key, const char *s)
{
	fprintf(f, "%s=%s%s%s\n", key, s != NULL ? "'" : "", s != NULL ? s : "NULL",
		s != NULL ? "'" : "");
}

static void put_app(FILE *f, const struct spio_app_opts *o)
{
	put_str(f, "name", o->name);
	put_str(f, "reactor_mask", o->reactor_mask);
	fprintf(f, "main_core=%" PRIu32 "\n", o->main_core);
	put_str(f, "json_config_file", o->json_config_file);
	put_str(f, "json_config_text", o->json_config_text);
	put_str(f, "rpc_addr", o->rpc_addr);
	fprintf(f, "mem_size_mb=%" PRIu64 " no_huge=%d\n", o->mem_size_mb, o->no_huge);
	put_str(f, "log_level", o->log_level);
	put_str(f, "log_flags", o->log_flags);
	fprintf(f, "idle_mode=%d idle_threshold_us=%" PRIu64 "\n", (int)o->idle_mode,
		o->idle_threshold_us);
}

/* The common options' contract (app_args.c): what a successful parse may leave in opts. */
static void check_app(const struct spio_app_opts *o, uint32_t default_core)
{
	struct spio_cpuset set;

	if (o->reactor_mask != NULL &&
	    (spio_cpuset_parse(&set, o->reactor_mask) != 0 || spio_cpuset_count(&set) == 0)) {
		FAIL("reactor mask '%s' accepted but not a mask of at least one core",
		     o->reactor_mask);
	}
	if (o->main_core != default_core && o->main_core >= SPIO_CPUSET_MAX_CORES) {
		FAIL("main core %" PRIu32 " accepted (limit %d)", o->main_core,
		     SPIO_CPUSET_MAX_CORES);
	}
	if (o->json_config_file != NULL && o->json_config_file[0] == '\0') {
		FAIL("empty configuration file name accepted");
	}
	if (o->idle_mode != SPIO_APP_IDLE_ADAPTIVE && o->idle_mode != SPIO_APP_IDLE_POLL) {
		FAIL("idle mode %d", (int)o->idle_mode);
	}
}

static void put_perf(FILE *f, int argc, const struct spio_app_opts *app)
{
	const struct perf_opts *p = &g_perf_opts;
	uint32_t i;

	if (p->workload > WL_FLUSH || p->depth < 1 || p->depth > PERF_MAX_DEPTH || p->io_size < 1 ||
	    p->io_size > (1u << 30) || p->read_pct > 100 || p->time_s < 1 ||
	    (p->time_given && p->time_s > 1000000) ||
	    (int64_t)p->num_bdev_names > (int64_t)argc - 1) {
		FAIL("spio_perf options out of range: workload %d depth %" PRIu32
		     " io_size %" PRIu64 " read_pct %" PRIu32 " time %" PRIu64 " bdevs %" PRIu32
		     " of argc %d",
		     (int)p->workload, p->depth, p->io_size, p->read_pct, p->time_s,
		     p->num_bdev_names, argc);
	}
	fprintf(f,
		"workload=%s depth=%" PRIu32 " io_size=%" PRIu64 " read_pct=%" PRIu32
		" time_s=%" PRIu64 " time_given=%d io_count=%" PRIu64 " json=%d\n",
		g_perf_workload_names[p->workload], p->depth, p->io_size, p->read_pct, p->time_s,
		p->time_given, p->io_count, p->json);
	for (i = 0; i < p->num_bdev_names; i++) {
		put_str(f, "bdev", p->bdev_names[i]);
	}
	put_app(f, app);
	check_app(app, UINT32_MAX);
}

/* The request spio_rpc would send: checked, then kept as the result. */
static void check_request(FILE *f, const struct rpc_args *a)
{
	json_t *req, *params;
	struct spio_json_val *v;
	json_error_t jerr;
	char errbuf[128];
	const char *key;
	json_t *val;

	if (a->request == NULL || a->method == NULL || a->path == NULL || a->path[0] == '\0' ||
	    !(a->timeout >= 0 && a->timeout <= 1e6)) {
		FAIL("spio_rpc: parse succeeded with request %p method %p path %s timeout %g",
		     (void *)a->request, (const void *)a->method, a->path ? a->path : "NULL",
		     a->timeout);
	}
	req = json_loads(a->request, 0, &jerr);
	if (req == NULL) {
		FAIL("spio_rpc: request is not JSON (%s): %s", jerr.text, a->request);
	}
	if (!json_is_object(req) || !json_is_string(json_object_get(req, "jsonrpc")) ||
	    strcmp(json_string_value(json_object_get(req, "jsonrpc")), "2.0") != 0 ||
	    !json_is_string(json_object_get(req, "method")) ||
	    strcmp(json_string_value(json_object_get(req, "method")), a->method) != 0 ||
	    json_integer_value(json_object_get(req, "id")) != 1 ||
	    !json_is_integer(json_object_get(req, "id"))) {
		FAIL("spio_rpc: request is not a JSON-RPC 2.0 call of '%s' with id 1: %s",
		     a->method, a->request);
	}
	params = json_object_get(req, "params");
	if (params != NULL && !json_is_object(params) && !json_is_array(params)) {
		FAIL("spio_rpc: params neither an object nor an array: %s", a->request);
	}
	json_object_foreach(req, key, val)
	{
		if (strcmp(key, "jsonrpc") != 0 && strcmp(key, "method") != 0 &&
		    strcmp(key, "id") != 0 && strcmp(key, "params") != 0) {
			FAIL("spio_rpc: unexpected member '%s' in the request: %s", key,
			     a->request);
		}
	}
	json_decref(req);

	/* what the server reads it with */
	v = spio_json_parse(a->request, strlen(a->request), errbuf, sizeof(errbuf));
	if (v == NULL || !spio_json_is_object(v) ||
	    spio_json_string(spio_json_object_get(v, "method")) == NULL ||
	    strcmp(spio_json_string(spio_json_object_get(v, "method")), a->method) != 0) {
		FAIL("spio_rpc: the server's parser refuses the request (%s): %s",
		     v == NULL ? errbuf : "no such method member", a->request);
	}
	spio_json_val_free(v);

	put_str(f, "path", a->path);
	fprintf(f, "timeout=%a\n", a->timeout);
	put_str(f, "request", a->request);
}

/*
 * One parse
 */

static void parse_once(enum prog prog, int argc, char **argv, struct outcome *oc)
{
	FILE *saved_out = stdout, *saved_err = stderr, *res;
	struct spio_app_opts app;
	struct rpc_args rargs;
	int saved_opterr = opterr;

	memset(oc, 0, sizeof(*oc));
	memset(&app, 0, sizeof(app));
	memset(&rargs, 0, sizeof(rargs));
	stdout = open_memstream(&oc->out, &oc->out_len);
	stderr = open_memstream(&oc->err, &oc->err_len);
	res = open_memstream(&oc->result, &oc->result_len);
	if (stdout == NULL || stderr == NULL || res == NULL) {
		stdout = saved_out;
		stderr = saved_err;
		FAIL("open_memstream failed");
	}

	g_in_parse = true;
	switch (prog) {
	case PROG_PERF:
		perf_app_opts_init(&app);
		oc->run = perf_parse_args(argc, argv, &app, &oc->exit_rc);
		break;
	case PROG_RPC:
		oc->run = rpc_parse_args(argc, argv, &rargs, &oc->exit_rc);
		break;
	case PROG_TGT:
		tgt_app_opts_init(&app);
		oc->run = tgt_parse_args(argc, argv, &app, &oc->exit_rc);
		break;
	}
	g_in_parse = false;

	fclose(stdout);
	fclose(stderr);
	stdout = saved_out;
	stderr = saved_err;

	if (opterr != saved_opterr) {
		FAIL("%s: opterr %d after the parse, was %d", g_prog_names[prog], opterr,
		     saved_opterr);
	}
	fprintf(res, "run=%d exit=%d\n", oc->run, oc->run ? 0 : oc->exit_rc);
	if (oc->run) {
		switch (prog) {
		case PROG_PERF:
			put_perf(res, argc, &app);
			break;
		case PROG_RPC:
			check_request(res, &rargs);
			break;
		case PROG_TGT:
			put_app(res, &app);
			check_app(&app, UINT32_MAX);
			break;
		}
	}
	fclose(res);
	if (prog == PROG_PERF) {
		perf_opts_fini();
	} else if (prog == PROG_RPC) {
		rpc_args_fini(&rargs);
	}
}

static void outcome_free(struct outcome *oc)
{
	free(oc->out);
	free(oc->err);
	free(oc->result);
}

/* Exit statuses and output a parse may end with. */
static void check_outcome(enum prog prog, int argc, const struct outcome *oc)
{
	int usage = prog == PROG_RPC ? RPC_EXIT_USAGE : PERF_EXIT_USAGE;
	const char *name = g_prog_names[prog];

	if (oc->run) {
		if (oc->out_len != 0 || oc->err_len != 0) {
			FAIL("%s: a successful parse printed: stdout '%s' stderr '%s'", name,
			     oc->out, oc->err);
		}
		return;
	}
	if (oc->exit_rc == 0) {
		if (oc->out_len == 0) {
			FAIL("%s: exit 0 without running, and nothing on stdout", name);
		}
	} else if (oc->exit_rc == usage) {
		if (oc->err_len == 0) {
			FAIL("%s: usage error (exit %d) with nothing on stderr", name, usage);
		}
	} else if (!(oc->exit_rc == 1 && argc < 1 && prog != PROG_RPC)) {
		FAIL("%s: exit status %d (argc %d); stderr: %s", name, oc->exit_rc, argc, oc->err);
	}
}

static bool same(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[MAX_ARGS + 1], *orig[MAX_ARGS + 1], **av;
	struct outcome first, second;
	size_t pos = 1, len, i;
	enum prog prog;
	int argc = 0;

	if (size < 1) {
		return 0;
	}
	prog = (enum prog)((data[0] & SEL_PROG_MASK) % 3);
	if ((data[0] & SEL_ARGV0) == 0) {
		orig[argc++] = strdup(g_prog_names[prog]);
	}
	while (pos < size && argc < MAX_ARGS) {
		const uint8_t *nul = memchr(data + pos, 0, size - pos);

		len = nul != NULL ? (size_t)(nul - (data + pos)) : size - pos;
		orig[argc] = malloc(len + 1);
		if (orig[argc] == NULL) {
			FAIL("out of memory");
		}
		memcpy(orig[argc], data + pos, len);
		orig[argc][len] = '\0';
		argc++;
		pos += len + 1;
	}
	orig[argc] = NULL;
	for (i = 0; i < (size_t)argc; i++) {
		if (orig[i] == NULL) {
			FAIL("out of memory");
		}
	}

	/* exactly argc + 1 pointers, so that reading argv[argc + 1] is caught */
	av = malloc(((size_t)argc + 1) * sizeof(*av));
	if (av == NULL) {
		FAIL("out of memory");
	}
	for (i = 0; i <= (size_t)argc; i++) {
		/* a copy of each string too: what the parser gets must stay as it was */
		argv[i] = orig[i] != NULL ? strdup(orig[i]) : NULL;
		if (orig[i] != NULL && argv[i] == NULL) {
			FAIL("out of memory");
		}
		av[i] = argv[i];
	}

	parse_once(prog, argc, av, &first);
	check_outcome(prog, argc, &first);
	for (i = 0; i < (size_t)argc; i++) {
		if (strcmp(argv[i], orig[i]) != 0) {
			FAIL("%s: argv[%zu] changed from '%s' to '%s'", g_prog_names[prog], i,
			     orig[i], argv[i]);
		}
	}

	/* GNU getopt permutes argv: the second parse gets it in its first order */
	memcpy(av, argv, ((size_t)argc + 1) * sizeof(*av));
	parse_once(prog, argc, av, &second);
	if (first.run != second.run || first.exit_rc != second.exit_rc ||
	    !same(first.result, first.result_len, second.result, second.result_len) ||
	    !same(first.out, first.out_len, second.out, second.out_len) ||
	    /* an empty argv is logged, with a time stamp */
	    (argc >= 1 && !same(first.err, first.err_len, second.err, second.err_len))) {
		FAIL("%s: the second parse of the same argv differs:\n--- first\n%s%s%s--- "
		     "second\n%s%s%s",
		     g_prog_names[prog], first.result, first.out, first.err, second.result,
		     second.out, second.err);
	}
	if (g_verbose) {
		fprintf(stderr, "%s (argc %d)\n%s--- stdout\n%s--- stderr\n%s\n",
			g_prog_names[prog], argc, first.result, first.out, first.err);
	}

	outcome_free(&first);
	outcome_free(&second);
	free(av);
	for (i = 0; i < (size_t)argc; i++) {
		free(argv[i]);
		free(orig[i]);
	}
	return 0;
}
