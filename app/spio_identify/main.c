/*
 * spio_identify: print what an NVMe controller says about itself, in the
 * layout of SPDK's spdk_nvme_identify (or as JSON with --json).
 *
 *   spio_identify -r 'trtype:TCP adrfam:IPv4 traddr:ADDR trsvcid:PORT subnqn:NQN [hostnqn:NQN]'
 *   spio_identify --ctrlr-data FILE [--ns-data NSID=FILE]... [--ns-desc NSID=FILE]...
 *                 [--cap VALUE] [--vs VALUE] [--num-io-queues N]
 *
 * The first form connects and reads identify data, features, log pages and
 * namespaces; the second decodes raw Identify pages saved earlier (as
 * `nvme id-ctrl -b` writes them) and prints the identify sections only.
 * docs/nvme_tools.md is the guide. Exit status: 0, or 1 for bad options and
 * for a controller that cannot be reached or read.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/env.h"
#include "spio/log.h"
#include "spio/nvme.h"
#include "spio/thread.h"
#include "spio/util.h"

#include "identify.h"

#define EXIT_OK 0
#define EXIT_FAIL 1

struct ns_file {
	uint32_t nsid;
	const char *data_path;
	const char *desc_path;
};

static struct {
	struct spio_nvme_transport_id trid;
	bool have_trid;
	struct id_print_opts print;
	bool no_huge;
	uint64_t mem_size_mb;
	char core_mask[24];
	/* offline mode */
	const char *ctrlr_path;
	struct ns_file *ns_files; /* one per --ns-data / --ns-desc at most */
	uint32_t num_ns_files;
	bool have_cap, have_vs, have_num_io_queues;
	uint64_t cap, vs, num_io_queues;
} g_opts = {.core_mask = "0x1"};

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: spio_identify -r TRID [options]\n"
	    "       spio_identify --ctrlr-data FILE [--ns-data NSID=FILE]... [offline options]\n"
	    "\n"
	    "Prints a controller's identify data, features, log pages and namespaces in\n"
	    "the layout of SPDK's spdk_nvme_identify.\n"
	    "\n"
	    "options:\n"
	    "  -r TRID               controller to connect to, SPDK's transport ID string:\n"
	    "                        'trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:4420\n"
	    "                        subnqn:NQN hostnqn:NQN'; without subnqn the discovery\n"
	    "                        controller (then the discovery log is printed);\n"
	    "                        or 'trtype:PCIe traddr:0000:00:04.0' (scripts/setup.sh)\n"
	    "  -x                    print the raw pages in hex too (text output only)\n"
	    "      --json            print one JSON object instead of text\n"
	    "  -p CORE               core to run on (default 0)\n"
	    "  -s MB                 DMA memory to reserve, in MiB (default: on demand)\n"
	    "      --no-huge         no hugepages for DMA memory\n"
	    "  -L FLAG               enable a debug log flag (repeatable)\n"
	    "  -H, -h, --help        this text\n"
	    "\n"
	    "offline mode (no controller; prints the identify sections only):\n"
	    "      --ctrlr-data FILE     Identify Controller page, 4096 bytes\n"
	    "      --ns-data NSID=FILE   Identify Namespace page of namespace NSID\n"
	    "                            (repeatable)\n"
	    "      --ns-desc NSID=FILE   its Namespace Identification Descriptor list\n"
	    "                            (gives the UUID and command set)\n"
	    "      --cap VALUE           the CAP register (decimal or 0x hex)\n"
	    "      --vs VALUE            the VS register\n"
	    "      --num-io-queues N     I/O queues granted (the Max Number of I/O Queues line)\n"
	    "\n"
	    "Exit status: 0 success, 1 bad options or a controller that cannot be read.\n");
}

enum {
	OPT_JSON = 256,
	OPT_NO_HUGE,
	OPT_CTRLR_DATA,
	OPT_NS_DATA,
	OPT_NS_DESC,
	OPT_CAP,
	OPT_VS,
	OPT_NUM_IO_QUEUES,
};

static int parse_num(const char *opt, const char *arg, uint64_t max, uint64_t *out)
{
	if (spio_parse_u64(arg, 0, out) != 0 || *out > max) {
		fprintf(stderr,
			"spio_identify: %s %s: expected a number from 0 to %" PRIu64
			" (decimal or 0x hex)\n",
			opt, arg, max);
		return -EINVAL;
	}
	return 0;
}

/* --ns-data / --ns-desc NSID=FILE */
static int parse_ns_file(const char *opt, char *arg, bool desc)
{
	char *eq = strchr(arg, '=');
	struct ns_file *nf = NULL;
	uint64_t nsid;
	uint32_t i;

	if (eq == NULL || eq[1] == '\0') {
		fprintf(stderr, "spio_identify: %s %s: expected NSID=FILE\n", opt, arg);
		return -EINVAL;
	}
	*eq = '\0';
	if (spio_parse_u64(arg, 0, &nsid) != 0 || nsid == 0 || nsid >= SPIO_NVME_GLOBAL_NS_TAG) {
		fprintf(stderr,
			"spio_identify: %s %s=%s: expected a namespace ID from 1 to 4294967294\n",
			opt, arg, eq + 1);
		return -EINVAL;
	}
	for (i = 0; i < g_opts.num_ns_files; i++) {
		if (g_opts.ns_files[i].nsid == nsid) {
			nf = &g_opts.ns_files[i];
		}
	}
	if (nf == NULL) {
		nf = &g_opts.ns_files[g_opts.num_ns_files++];
		nf->nsid = (uint32_t)nsid;
	}
	if ((desc ? nf->desc_path : nf->data_path) != NULL) {
		fprintf(stderr, "spio_identify: %s: namespace %" PRIu64 " given twice\n", opt,
			nsid);
		return -EINVAL;
	}
	*(desc ? &nf->desc_path : &nf->data_path) = eq + 1;
	return 0;
}

static int parse_opt(int ch, char *arg, const char *prog)
{
	uint64_t v;

	switch (ch) {
	case 'r':
		if (g_opts.have_trid) {
			fprintf(stderr,
				"spio_identify: -r given twice: one controller at a time\n");
			return -EINVAL;
		}
		if (spio_nvme_transport_id_parse(&g_opts.trid, arg) != 0) {
			fprintf(stderr, "spio_identify: -r '%s': not a transport ID\n", arg);
			return -EINVAL;
		}
		if (g_opts.trid.traddr[0] == '\0') {
			fprintf(stderr, "spio_identify: -r '%s': traddr is required\n", arg);
			return -EINVAL;
		}
		g_opts.have_trid = true;
		return 0;
	case 'x':
		g_opts.print.hex_dump = true;
		return 0;
	case OPT_JSON:
		g_opts.print.json = true;
		return 0;
	case 'p':
		if (parse_num("-p", arg, SPIO_CPUSET_MAX_CORES - 1, &v) != 0) {
			return -EINVAL;
		}
		snprintf(g_opts.core_mask, sizeof(g_opts.core_mask), "[%" PRIu64 "]", v);
		return 0;
	case 's':
		return parse_num("-s", arg, 1u << 20, &g_opts.mem_size_mb);
	case OPT_NO_HUGE:
		g_opts.no_huge = true;
		return 0;
	case 'L':
		if (spio_log_set_flag(arg, true) != 0) {
			fprintf(stderr, "spio_identify: -L %s: unknown log flag\n", arg);
			return -EINVAL;
		}
		spio_log_set_level(SPIO_LOG_DEBUG);
		return 0;
	case OPT_CTRLR_DATA:
		g_opts.ctrlr_path = arg;
		return 0;
	case OPT_NS_DATA:
	case OPT_NS_DESC:
		return parse_ns_file(ch == OPT_NS_DATA ? "--ns-data" : "--ns-desc", arg,
				     ch == OPT_NS_DESC);
	case OPT_CAP:
		g_opts.have_cap = true;
		return parse_num("--cap", arg, UINT64_MAX, &g_opts.cap);
	case OPT_VS:
		g_opts.have_vs = true;
		return parse_num("--vs", arg, UINT32_MAX, &g_opts.vs);
	case OPT_NUM_IO_QUEUES:
		g_opts.have_num_io_queues = true;
		return parse_num("--num-io-queues", arg, SPIO_NVME_MAX_IO_QUEUES,
				 &g_opts.num_io_queues);
	case 'i':
	case 'd':
	case 'g':
	case 'v':
	case 'z':
	case 'V':
	case 'S':
	case 'o':
		fprintf(stderr, "spio_identify: -%c: SPDK's option is not supported here\n", ch);
		return -EINVAL;
	default:
		/* getopt printed what was wrong */
		fprintf(stderr, "Try '%s --help'.\n", prog);
		return -EINVAL;
	}
}

/* 1 to run, 0 to exit 0 (help), -1 to exit 1. */
static int parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"no-huge", no_argument, NULL, OPT_NO_HUGE},
	    {"ctrlr-data", required_argument, NULL, OPT_CTRLR_DATA},
	    {"ns-data", required_argument, NULL, OPT_NS_DATA},
	    {"ns-desc", required_argument, NULL, OPT_NS_DESC},
	    {"cap", required_argument, NULL, OPT_CAP},
	    {"vs", required_argument, NULL, OPT_VS},
	    {"num-io-queues", required_argument, NULL, OPT_NUM_IO_QUEUES},
	    {NULL, 0, NULL, 0},
	};
	int ch;

	/* at most one namespace file per argument */
	g_opts.ns_files = calloc((size_t)argc, sizeof(*g_opts.ns_files));
	if (g_opts.ns_files == NULL) {
		fprintf(stderr, "spio_identify: out of memory\n");
		return -1;
	}
	while ((ch = getopt_long(argc, argv, "r:xp:s:L:Hhi:d:gv:z::VS:o", longopts, NULL)) != -1) {
		if (ch == 'H' || ch == 'h') {
			usage(stdout);
			return 0;
		}
		if (parse_opt(ch, optarg, argv[0]) != 0) {
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "spio_identify: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (g_opts.have_trid == (g_opts.ctrlr_path != NULL)) {
		fprintf(stderr, "spio_identify: give either -r TRID (a controller) or "
				"--ctrlr-data FILE (saved pages)\n");
		return -1;
	}
	if (g_opts.have_trid && (g_opts.num_ns_files > 0 || g_opts.have_cap || g_opts.have_vs ||
				 g_opts.have_num_io_queues)) {
		fprintf(stderr, "spio_identify: --ns-data, --ns-desc, --cap, --vs and "
				"--num-io-queues go with --ctrlr-data, not -r\n");
		return -1;
	}
	return 1;
}

/* Read exactly one 4096-byte page from `path`. */
static int read_page(const char *path, void *buf)
{
	FILE *f = fopen(path, "rb");
	size_t n;
	int extra;

	if (f == NULL) {
		fprintf(stderr, "spio_identify: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	n = fread(buf, 1, SPIO_NVME_IDENTIFY_BUFLEN, f);
	extra = fgetc(f);
	fclose(f);
	if (n != SPIO_NVME_IDENTIFY_BUFLEN || extra != EOF) {
		fprintf(stderr,
			"spio_identify: %s: %s than an identify page (expected exactly %u bytes)\n",
			path, n != SPIO_NVME_IDENTIFY_BUFLEN ? "shorter" : "longer",
			SPIO_NVME_IDENTIFY_BUFLEN);
		return -EINVAL;
	}
	return 0;
}

static int cmp_ns_file(const void *a, const void *b)
{
	const struct ns_file *x = a, *y = b;

	return x->nsid < y->nsid ? -1 : x->nsid > y->nsid;
}

static int load_offline(struct id_info *info)
{
	uint32_t i;

	snprintf(info->name, sizeof(info->name), "%s", g_opts.ctrlr_path);
	if (read_page(g_opts.ctrlr_path, &info->cdata) != 0) {
		return -EINVAL;
	}
	info->have_cap = g_opts.have_cap;
	info->cap.raw = g_opts.cap;
	info->have_vs = g_opts.have_vs;
	info->vs.raw = (uint32_t)g_opts.vs;
	info->have_num_io_queues = g_opts.have_num_io_queues;
	info->num_io_queues = (uint32_t)g_opts.num_io_queues;
	if (g_opts.num_ns_files == 0) {
		return 0;
	}
	qsort(g_opts.ns_files, g_opts.num_ns_files, sizeof(*g_opts.ns_files), cmp_ns_file);
	info->ns = calloc(g_opts.num_ns_files, sizeof(*info->ns));
	if (info->ns == NULL) {
		fprintf(stderr, "spio_identify: out of memory\n");
		return -ENOMEM;
	}
	for (i = 0; i < g_opts.num_ns_files; i++) {
		const struct ns_file *nf = &g_opts.ns_files[i];
		struct id_ns *ns = &info->ns[i];

		if (nf->data_path == NULL) {
			fprintf(
			    stderr,
			    "spio_identify: --ns-desc %u=%s without --ns-data for namespace %u\n",
			    nf->nsid, nf->desc_path, nf->nsid);
			return -EINVAL;
		}
		ns->nsid = nf->nsid;
		if (read_page(nf->data_path, &ns->data) != 0) {
			return -EINVAL;
		}
		if (nf->desc_path != NULL) {
			if (read_page(nf->desc_path, ns->desc) != 0) {
				return -EINVAL;
			}
			ns->have_desc = true;
		}
		info->num_ns++;
	}
	return 0;
}

/* Environment and one spio thread for the driver, then the collection. */
static int run_live(struct id_info *info)
{
	struct spio_nvme_ctrlr_opts copts;
	struct spio_env_opts eopts;
	struct spio_thread *thread;
	int rc;

	spio_env_opts_init(&eopts, sizeof(eopts));
	eopts.name = "spio_identify";
	eopts.no_huge = g_opts.no_huge;
	eopts.mem_size_mb = g_opts.mem_size_mb;
	eopts.core_mask = g_opts.core_mask;
	rc = spio_env_init(&eopts);
	if (rc != 0) {
		fprintf(stderr, "spio_identify: cannot initialise the environment: %s\n",
			strerror(-rc));
		return rc;
	}
	rc = spio_thread_lib_init(NULL, 0);
	if (rc != 0) {
		fprintf(stderr, "spio_identify: cannot initialise threads: %s\n", strerror(-rc));
		spio_env_fini();
		return rc;
	}
	thread = spio_thread_create("spio_identify", NULL);
	if (thread == NULL) {
		rc = -errno;
		fprintf(stderr, "spio_identify: cannot create a thread: %s\n", strerror(errno));
		goto out_lib;
	}
	spio_set_thread(thread);
	spio_nvme_ctrlr_get_default_opts(&copts, sizeof(copts));
	rc = id_collect(&g_opts.trid, &copts, info);

	spio_thread_exit(thread);
	while (!spio_thread_is_exited(thread)) {
		spio_thread_poll(thread, 0, 0);
	}
	spio_set_thread(NULL);
	spio_thread_destroy(thread);
out_lib:
	spio_thread_lib_fini();
	spio_env_fini();
	return rc;
}

int main(int argc, char **argv)
{
	struct id_info *info;
	int rc;

	rc = parse_args(argc, argv);
	if (rc <= 0) {
		free(g_opts.ns_files);
		return rc == 0 ? EXIT_OK : EXIT_FAIL;
	}
	/* about 70 KiB of pages: on the heap */
	info = calloc(1, sizeof(*info));
	if (info == NULL) {
		fprintf(stderr, "spio_identify: out of memory\n");
		free(g_opts.ns_files);
		return EXIT_FAIL;
	}
	rc = g_opts.have_trid ? run_live(info) : load_offline(info);
	if (rc == 0) {
		rc = id_print(info, &g_opts.print);
		if (rc != 0) {
			fprintf(stderr, "spio_identify: writing the report failed: %s\n",
				strerror(-rc));
		}
	}
	id_info_free(info);
	free(info);
	free(g_opts.ns_files);
	return rc == 0 ? EXIT_OK : EXIT_FAIL;
}
