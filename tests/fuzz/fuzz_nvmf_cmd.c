/*
 * Fuzzer: NVMe admin, fabrics and I/O commands handed straight to the
 * target's controller emulation (lib/nvmf: request.c, ctrlr*.c, ns.c,
 * subsystem.c), as a transport hands them, without the PDU layer in front.
 * Input format: nvmf_cmd_input.h.
 *
 * A small in-process transport ("FZCMD") stands in for TCP: its connections
 * are structs of this file, added to the target's poll group as accepted
 * connections are; each record's SQE and data buffer become a request given
 * to nvmf_request_exec() on the poll group's thread, and the completion
 * comes back through the transport's req_complete. Everything runs on this
 * OS thread, polled like one reactor, so that a crash replays alone.
 *
 * The target, set up once: subsystem NC_SUBNQN open to any host with
 * namespace 1 a malloc bdev and namespace 2 an error bdev over another
 * malloc bdev, so that failing I/O paths are reached (namespace 2 may also
 * be removed and added back during an input). Every input gets a fresh
 * association (admin queue connected and enabled, I/O queues 1 and 2,
 * unless the input connects them itself) and ends with all of it gone and
 * the namespaces zeroed, so that each input starts from the same state.
 *
 * What aborts, besides sanitizer reports:
 * - a command completed twice, on another thread, with a wrong CID or SQID,
 *   or with its SQE changed by the core;
 * - a status that contradicts the command: success where the spec demands
 *   an error (LBA beyond the namespace, unknown opcode, Identify into less
 *   than 4 KiB, a log page offset past the page, an AER with no event, ...),
 *   or the wrong error where only one is right;
 * - read data of namespace 1 that differs from what was written (a shadow
 *   copy), a compare that disagrees with it, Identify or log page bytes
 *   beyond the structure not zero, Identify data that contradict the target;
 * - CSTS saying a reset or shutdown is done while an I/O command of the
 *   controller still executes;
 * - the target busy for 5 s, or commands that never complete;
 * - after the input: a request not completed exactly once, a queue the core
 *   never finished, a controller or counter left behind, or an enabled
 *   controller that fails a plain Identify.
 *
 * A custom mutator changes single SQE fields (nc_input_tweak) half the time.
 *
 * FUZZ_VERBOSE=1 in the environment turns the target's log on and prints
 * every command and completion.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/bdev.h"
#include "spio/bdev_error.h"
#include "spio/bdev_malloc.h"
#include "spio/env.h"
#include "spio/log.h"
#include "spio/nvme.h"
#include "spio/nvmf.h"
#include "spio/thread.h"

#include "nvme/nvme_fabric.h"
#include "nvmf/nvmf_core.h"
#include "nvmf_cmd_input.h"
#include "shared_threads.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

/* How long the target may stay busy, or commands stay out, before it counts as a hang. */
#define HANG_MS 5000
/* Idle polling rounds in a row that make the target quiet. */
#define QUIET_POLLS 3
/* Pieces a split data buffer has at most. */
#define MAX_SEGS 8

#define NC_TRANSPORT "FZCMD"
#define NC_ADDR "127.0.0.1"
#define NC_SVC "4420"
#define NS1_BDEV "NcMalloc0"
#define NS2_BASE "NcMalloc1"
#define NS2_BDEV "EE_NcMalloc1"
#define NS1_BYTES (NC_NS1_BLOCKS * NC_NS1_BLOCK_SIZE)
/* CIDs of the fuzzer's own commands (inputs may use them too: nothing depends on it). */
#define CID_SETUP 0xfe00u

/* What a completion's status must be. */
enum exp_kind {
	EXP_ANY = 0, /* anything */
	EXP_FAIL,    /* an error */
	EXP_OK,	     /* success */
	EXP_EXACT,   /* exactly sct / sc */
};

/* What else to check of a completion. */
enum exp_post {
	POST_NONE = 0,
	POST_IDENTIFY,
	POST_LOG,
	POST_PROP,
	POST_CONNECT,
	POST_ABORT,
	POST_AER,
	POST_READ1,    /* read of namespace 1: the shadow */
	POST_COMPARE1, /* compare on namespace 1: agrees with the shadow */
	/* From here on: commands that change namespace 1 (is_ns1_writer). */
	POST_WRITE1, /* write of namespace 1: into the shadow */
	POST_ZERO1,  /* write zeroes of namespace 1 */
	POST_DSM1,   /* deallocate on namespace 1: contents unknown after */
};

struct expect {
	uint8_t kind; /* enum exp_kind */
	uint8_t sct, sc;
	uint8_t post; /* enum exp_post */
	bool discovery;
	uint16_t cntlid;
	uint64_t slba, nlb;
	/* namespace 1: modifications seen at submission, and none other in flight */
	uint64_t epoch;
	bool alone;
	/* log page: bytes that may be nonzero */
	uint64_t copy;
	/* the controller of the queue at submission (identity only, never read) */
	const void *ctrlr;
	/* health log: the controller's reads / writes done before submission */
	uint64_t io_done[2];
};

/* Reads and writes of one controller in this input, for its health log. */
struct ctrlr_io {
	uint16_t cntlid;       /* unique within an input: IDs are not reused before the next */
	uint64_t done[2];      /* succeeded: read, write */
	uint64_t submitted[2]; /* handed to the core */
};
#define MAX_CTRLRS 4

struct nc_conn;

struct nc_req {
	struct nvmf_request req;
	struct spio_nvme_cmd cmd;  /* what the core gets */
	struct spio_nvme_cmd orig; /* what the host sent */
	struct spio_nvme_cpl cpl;
	struct nc_conn *conn;
	uint8_t *seg[MAX_SEGS];
	uint32_t nseg;
	uint32_t len;
	uint8_t xfer;
	bool in_use;
	bool aer; /* an AER on an admin queue: may stay out until the queue goes */
	int done;
	uint64_t seq; /* submission order */
	struct expect exp;
};

struct nc_conn {
	struct nvmf_qpair qpair;
	struct nc_req reqs[NC_QUEUE_DEPTH];
	bool gone; /* dropped by either side: nothing more is submitted */
	int fini;
};

struct op {
	int done;
	int status;
	struct spio_nvmf_tgt *tgt;
};

static struct {
	struct spio_thread *tt; /* target thread */
	struct spio_thread *pt; /* the poll group's thread */
	struct spio_nvmf_tgt *tgt;
	struct nvmf_transport *tr;
	struct nvmf_poll_group *pg;
	struct spio_nvmf_subsystem *subsys;
	struct nc_conn conns[NC_NUM_CONNS];
	uint64_t clock; /* the core's keep-alive clock (nvmf_set_ticks_fn) */
	uint64_t seq;	/* submissions so far */
	struct ctrlr_io cio[MAX_CTRLRS];
	uint64_t rng; /* buffer splits */
	bool split;
	bool ready;
	bool verbose;
	/* namespace 1's contents as the host wrote them; known[] per block */
	uint8_t shadow[NS1_BYTES];
	uint8_t known[NC_NS1_BLOCKS];
	uint64_t ns1_epoch;
	uint32_t ns1_writers;
	bool dirty[2]; /* namespace 1 / 2 may hold data: zeroed after the input */
	bool injected;
	/* namespace 2 removed / added in this input (NC_CTL_NS) */
	bool ns_changed;
	bool ns2_removed; /* its removal was started */
	int ns_op;	  /* a remove / add under way */
} g;

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz_nvmf_cmd: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	abort();
}

static uint64_t fake_ticks(void)
{
	return g.clock;
}

/*
 * The transport
 */

static struct nvmf_transport *t_create(struct spio_nvmf_tgt *tgt,
				       const struct spio_nvmf_transport_opts *opts, int *rc)
{
	struct nvmf_transport *t = calloc(1, sizeof(*t));

	(void)tgt;
	(void)opts;
	if (t == NULL) {
		*rc = -ENOMEM;
	}
	return t;
}

static void t_destroy(struct nvmf_transport *transport)
{
	free(transport);
}

static int t_listen(struct nvmf_transport *transport, const struct spio_nvme_transport_id *trid)
{
	(void)transport;
	(void)trid;
	return 0;
}

static void t_stop_listen(struct nvmf_transport *transport,
			  const struct spio_nvme_transport_id *trid)
{
	(void)transport;
	(void)trid;
}

static struct nvmf_transport_poll_group *t_pg_create(struct nvmf_transport *transport,
						     struct nvmf_poll_group *group)
{
	(void)transport;
	(void)group;
	/* Nothing per group: any non-NULL handle. */
	return calloc(1, 16);
}

static void t_pg_destroy(struct nvmf_transport_poll_group *tgroup)
{
	free(tgroup);
}

static void check_completion(struct nc_req *r);

static void t_req_complete(struct nvmf_request *req)
{
	struct nc_req *r = SPIO_CONTAINEROF(req, struct nc_req, req);

	if (!r->in_use || r->done != 0) {
		die("opcode %#x cid %u on qid %u completed %s", r->orig.opc, r->orig.cid,
		    r->conn->qpair.qid, r->in_use ? "twice" : "while not submitted");
	}
	if (spio_get_thread() != g.pt) {
		die("opcode %#x cid %u completed on thread %s, not its poll group's", r->orig.opc,
		    r->orig.cid, spio_thread_get_name(spio_get_thread()));
	}
	r->done = 1;
	check_completion(r);
}

static void t_qpair_fini(struct nvmf_qpair *qpair)
{
	struct nc_conn *c = SPIO_CONTAINEROF(qpair, struct nc_conn, qpair);

	if (++c->fini != 1 || !c->gone) {
		die("qpair_fini on connection %td: call %d, %s", c - g.conns, c->fini,
		    c->gone ? "dropped" : "never dropped");
	}
	if (qpair->outstanding != 0) {
		die("qpair_fini with %u commands executing", qpair->outstanding);
	}
	for (uint32_t i = 0; i < NC_QUEUE_DEPTH; i++) {
		if (c->reqs[i].in_use && c->reqs[i].done == 0) {
			die("qpair_fini with opcode %#x cid %u never completed",
			    c->reqs[i].orig.opc, c->reqs[i].orig.cid);
		}
	}
}

static void t_qpair_close(struct nvmf_qpair *qpair)
{
	struct nc_conn *c = SPIO_CONTAINEROF(qpair, struct nc_conn, qpair);

	/* As a transport would: the connection goes, the core is told. */
	c->gone = true;
	nvmf_qpair_disconnect(qpair);
}

static uint32_t t_get_icdsz(const struct nvmf_transport *transport)
{
	(void)transport;
	return NC_ICDSZ;
}

static const struct nvmf_transport_ops g_ops = {
    .name = NC_TRANSPORT,
    .trtype = SPIO_NVME_TRANSPORT_CUSTOM,
    .create = t_create,
    .destroy = t_destroy,
    .listen = t_listen,
    .stop_listen = t_stop_listen,
    .poll_group_create = t_pg_create,
    .poll_group_destroy = t_pg_destroy,
    .req_complete = t_req_complete,
    .qpair_fini = t_qpair_fini,
    .qpair_close = t_qpair_close,
    .get_icdsz = t_get_icdsz,
};

static struct spio_nvme_transport_id nc_trid(const char *traddr, const char *trsvcid)
{
	struct spio_nvme_transport_id trid;

	memset(&trid, 0, sizeof(trid));
	snprintf(trid.trstring, sizeof(trid.trstring), "%s", NC_TRANSPORT);
	trid.trtype = SPIO_NVME_TRANSPORT_CUSTOM;
	trid.adrfam = SPIO_NVMF_ADRFAM_IPV4;
	snprintf(trid.traddr, sizeof(trid.traddr), "%s", traddr);
	snprintf(trid.trsvcid, sizeof(trid.trsvcid), "%s", trsvcid);
	return trid;
}

/*
 * Data buffers
 */

static uint64_t rnd(void)
{
	g.rng ^= g.rng >> 12;
	g.rng ^= g.rng << 25;
	g.rng ^= g.rng >> 27;
	return g.rng * 0x2545f4914f6cdd1dull;
}

static void req_free_buf(struct nc_req *r)
{
	for (uint32_t i = 0; i < r->nseg; i++) {
		free(r->seg[i]);
		r->seg[i] = NULL;
	}
	r->nseg = 0;
}

/* The buffer as pieces of exactly their size each, so that ASan sees any byte beyond. */
static void req_alloc_buf(struct nc_req *r, uint32_t len, const uint8_t *data, uint32_t data_len)
{
	uint32_t nseg = 1, cut[MAX_SEGS + 1], at = 0;

	if (g.split && len > 1) {
		nseg = 1 + (uint32_t)(rnd() % SPIO_MIN(len, MAX_SEGS));
	}
	/* Piece i is [cut[i], cut[i + 1]): sorted distinct cuts, none empty. */
	cut[0] = 0;
	for (uint32_t i = 1; i < nseg; i++) {
		uint32_t room = len - cut[i - 1] - (nseg - i);

		cut[i] = cut[i - 1] + 1 + (uint32_t)(rnd() % (room > 1 ? room : 1));
		if (cut[i] > len - (nseg - i)) {
			cut[i] = len - (nseg - i);
		}
	}
	cut[nseg] = len;
	for (uint32_t i = 0; i < nseg; i++) {
		uint32_t n = cut[i + 1] - cut[i];
		uint8_t *p = malloc(n);

		if (p == NULL) {
			die("out of memory");
		}
		if (r->xfer == SPIO_NVME_DATA_HOST_TO_CONTROLLER) {
			uint32_t from = at < data_len ? SPIO_MIN(n, data_len - at) : 0;

			memcpy(p, data + at, from);
			memset(p + from, 0, n - from);
		} else {
			memset(p, 0xa5, n);
		}
		r->seg[i] = p;
		r->req.iov[i].iov_base = p;
		r->req.iov[i].iov_len = n;
		at += n;
	}
	r->nseg = nseg;
	r->req.iovcnt = (int)nseg;
}

/* Copy [off, off + n) of the request's buffer out. */
static void req_read_buf(const struct nc_req *r, uint64_t off, void *dst, uint64_t n)
{
	uint8_t *out = dst;
	uint64_t pos = 0;

	for (uint32_t i = 0; i < r->nseg && n > 0; i++) {
		uint64_t l = r->req.iov[i].iov_len;

		if (off < pos + l) {
			uint64_t from = off - pos, k = SPIO_MIN(l - from, n);

			memcpy(out, r->seg[i] + from, k);
			out += k;
			off += k;
			n -= k;
		}
		pos += l;
	}
}

/* True if [off, len) of the buffer is all zero. */
static bool req_zero_from(const struct nc_req *r, uint64_t off)
{
	uint8_t tmp[512];

	while (off < r->len) {
		uint64_t n = SPIO_MIN((uint64_t)sizeof(tmp), r->len - off);

		req_read_buf(r, off, tmp, n);
		for (uint64_t i = 0; i < n; i++) {
			if (tmp[i] != 0) {
				return false;
			}
		}
		off += n;
	}
	return true;
}

/*
 * Expectations, decided when the command is submitted (on the poll
 * group's thread, whose state the core reads for I/O queues at once).
 */

/*
 * The I/O counts of the NVM controller a command's queue belonged to at
 * submission (NULL: none, or no room).
 */
static struct ctrlr_io *ctrlr_io(const struct expect *e)
{
	if (e->ctrlr == NULL || e->discovery) {
		return NULL;
	}
	for (uint32_t i = 0; i < MAX_CTRLRS; i++) {
		if (g.cio[i].cntlid == e->cntlid || g.cio[i].cntlid == 0) {
			g.cio[i].cntlid = e->cntlid;
			return &g.cio[i];
		}
	}
	return NULL;
}

/* 0 read, 1 write, -1 neither (as the health log counts them). */
static int io_kind(const struct nc_req *r)
{
	if (r->conn->qpair.qid == 0 || r->exp.ctrlr == NULL) {
		return -1;
	}
	return r->orig.opc == SPIO_NVME_OPC_READ ? 0 : r->orig.opc == SPIO_NVME_OPC_WRITE ? 1 : -1;
}

static bool is_ns1_writer(const struct expect *e)
{
	return e->post >= POST_WRITE1;
}

static void exp_exact(struct expect *e, uint8_t sct, uint8_t sc)
{
	e->kind = EXP_EXACT;
	e->sct = sct;
	e->sc = sc;
}

static bool range_ok(uint64_t slba, uint64_t nlb, uint64_t blocks)
{
	return slba < blocks && nlb <= blocks - slba;
}

static void io_expect(struct nc_req *r, struct expect *e)
{
	const struct spio_nvme_cmd *cmd = &r->orig;
	uint32_t nsid = cmd->nsid;
	uint64_t blocks = nsid == 1 ? NC_NS1_BLOCKS : NC_NS2_BLOCKS;
	uint32_t bs = nsid == 1 ? NC_NS1_BLOCK_SIZE : NC_NS2_BLOCK_SIZE;
	bool ns1 = nsid == 1;

	/* Namespace 2 may be on its way out or back: as the poll group sees it now. */
	if ((nsid != 1 && nsid != 2) ||
	    (nsid == 2 && g.pg->sgroups[g.subsys->id].ns[1].state != NVMF_PG_NS_ACTIVE)) {
		exp_exact(e, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
		return;
	}
	if (cmd->fuse != SPIO_NVME_CMD_FUSE_NONE) {
		exp_exact(e, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD);
		return;
	}
	e->slba = (uint64_t)cmd->cdw10 | ((uint64_t)cmd->cdw11 << 32);
	e->nlb = (uint64_t)(cmd->cdw12 & 0xffff) + 1;
	switch (cmd->opc) {
	case SPIO_NVME_OPC_READ:
	case SPIO_NVME_OPC_WRITE:
	case SPIO_NVME_OPC_COMPARE:
		if (!range_ok(e->slba, e->nlb, blocks)) {
			exp_exact(e, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_LBA_OUT_OF_RANGE);
		} else if (e->nlb * bs != r->len) {
			exp_exact(e, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_DATA_SGL_LENGTH_INVALID);
		} else if (ns1) {
			e->kind = cmd->opc == SPIO_NVME_OPC_COMPARE ? EXP_ANY : EXP_OK;
			e->post = cmd->opc == SPIO_NVME_OPC_READ    ? POST_READ1
				  : cmd->opc == SPIO_NVME_OPC_WRITE ? POST_WRITE1
								    : POST_COMPARE1;
		}
		break;
	case SPIO_NVME_OPC_WRITE_ZEROES:
		if (!range_ok(e->slba, e->nlb, blocks)) {
			exp_exact(e, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_LBA_OUT_OF_RANGE);
		} else if (cmd->cdw12 & (1u << 25)) {
			/* DEAC: not offered */
			exp_exact(e, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD);
		} else if (ns1) {
			e->kind = EXP_OK;
			e->post = POST_ZERO1;
		}
		break;
	case SPIO_NVME_OPC_FLUSH:
		if (ns1) {
			e->kind = EXP_OK;
		}
		break;
	case SPIO_NVME_OPC_DATASET_MANAGEMENT: {
		uint32_t nr = (cmd->cdw10 & 0xff) + 1;

		if (!(cmd->cdw11 & SPIO_NVME_DSM_ATTR_DEALLOCATE)) {
			e->kind = EXP_OK;
			break;
		}
		if ((uint64_t)nr * sizeof(struct spio_nvme_dsm_range) > r->len) {
			exp_exact(e, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_DATA_SGL_LENGTH_INVALID);
			break;
		}
		for (uint32_t i = 0; i < nr; i++) {
			struct spio_nvme_dsm_range range = {0};

			req_read_buf(r, (uint64_t)i * sizeof(range), &range, sizeof(range));
			if (range.starting_lba > blocks ||
			    range.length > blocks - range.starting_lba) {
				exp_exact(e, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_LBA_OUT_OF_RANGE);
				return;
			}
		}
		if (ns1) {
			e->kind = EXP_OK;
			e->post = POST_DSM1;
		}
		break;
	}
	default:
		exp_exact(e, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_OPCODE);
		break;
	}
}

/* Log page size by LID (0: none here; UINT64_MAX: any offset reads zeroes). */
static uint64_t log_page_size(uint8_t lid, bool discovery)
{
	if (discovery) {
		return lid == SPIO_NVME_LOG_DISCOVERY ? UINT64_MAX - 1 : 0;
	}
	switch (lid) {
	case SPIO_NVME_LOG_ERROR:
		return UINT64_MAX;
	case SPIO_NVME_LOG_HEALTH_INFORMATION:
		return sizeof(struct spio_nvme_health_information_page);
	case SPIO_NVME_LOG_FIRMWARE_SLOT:
		return sizeof(struct spio_nvme_firmware_page);
	case SPIO_NVME_LOG_CHANGED_NS_LIST:
		return sizeof(struct spio_nvme_ns_list);
	case SPIO_NVME_LOG_COMMAND_EFFECTS_LOG:
		return sizeof(struct spio_nvme_cmds_and_effect_log_page);
	default:
		return 0;
	}
}

static void admin_expect(struct nc_req *r, struct expect *e)
{
	const struct spio_nvme_cmd *cmd = &r->orig;
	uint8_t opc = cmd->opc;

	if (cmd->fuse != 0) {
		e->kind = EXP_FAIL;
		return;
	}
	switch (opc) {
	case SPIO_NVME_OPC_IDENTIFY: {
		uint8_t cns = cmd->cdw10 & 0xff;
		uint32_t nsid = cmd->nsid;

		e->post = POST_IDENTIFY;
		if (r->len < SPIO_NVME_IDENTIFY_BUFLEN ||
		    (e->discovery && cns != SPIO_NVME_IDENTIFY_CTRLR) || cns > 3 ||
		    ((cns == 0 || cns == 3) && (nsid == 0 || nsid > NC_MAX_NSID)) ||
		    (cns == 3 && nsid > 2) || (cns == 2 && nsid >= 0xfffffffeu)) {
			e->kind = EXP_FAIL;
		}
		break;
	}
	case SPIO_NVME_OPC_GET_LOG_PAGE: {
		uint8_t lid = cmd->cdw10 & 0xff;
		uint64_t offset = (uint64_t)cmd->cdw12 | ((uint64_t)cmd->cdw13 << 32);
		uint64_t len = ((uint64_t)(cmd->cdw11 & 0xffff) << 16 | (cmd->cdw10 >> 16)) * 4 + 4;
		uint64_t size = log_page_size(lid, e->discovery);

		e->post = POST_LOG;
		if (r->len == 0 || (offset & 3) != 0 || len > r->len || size == 0 ||
		    (size < UINT64_MAX - 1 && offset >= size)) {
			e->kind = EXP_FAIL;
			break;
		}
		e->copy = size >= UINT64_MAX - 1 ? (size == UINT64_MAX ? 0 : len)
						 : SPIO_MIN(len, size - offset);
		break;
	}
	case SPIO_NVME_OPC_ASYNC_EVENT_REQUEST:
		/* Only a namespace change makes an event: checked at completion. */
		e->post = POST_AER;
		break;
	case SPIO_NVME_OPC_ABORT:
		if (e->discovery || cmd->nsid != 0) {
			e->kind = EXP_FAIL;
		}
		e->post = POST_ABORT;
		break;
	case SPIO_NVME_OPC_KEEP_ALIVE:
		if (cmd->nsid != 0) {
			e->kind = EXP_FAIL;
		}
		break;
	case SPIO_NVME_OPC_GET_FEATURES:
	case SPIO_NVME_OPC_SET_FEATURES:
		break;
	default:
		/* Namespace management and attachment, firmware, format, ...: refused. */
		e->kind = EXP_FAIL;
		break;
	}
}

static void expect(struct nc_req *r)
{
	struct nvmf_qpair *qp = &r->conn->qpair;
	const struct spio_nvme_cmd *cmd = &r->orig;
	struct expect *e = &r->exp;
	int type = nvme_fabric_cmd_type(cmd);

	memset(e, 0, sizeof(*e));
	if (r->xfer == SPIO_NVME_DATA_BIDIRECTIONAL) {
		/* The transport refuses it itself. */
		exp_exact(e, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_OPCODE);
		return;
	}
	if (qp->state != NVMF_QPAIR_ACTIVE) {
		if (qp->state != NVMF_QPAIR_UNINITIALIZED) {
			exp_exact(e, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_ABORTED_SQ_DELETION);
		} else if (type != SPIO_NVMF_FABRIC_COMMAND_CONNECT ||
			   (qp->flags & NVMF_QPAIR_F_CONNECTING)) {
			exp_exact(e, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_COMMAND_SEQUENCE_ERROR);
		} else {
			e->post = POST_CONNECT;
		}
		return;
	}
	e->discovery = nvmf_ctrlr_is_discovery(qp->ctrlr);
	e->cntlid = qp->ctrlr->cntlid;
	e->ctrlr = qp->ctrlr;
	if (type >= 0) {
		if (qp->qid == 0 && (type == SPIO_NVMF_FABRIC_COMMAND_PROPERTY_GET ||
				     type == SPIO_NVMF_FABRIC_COMMAND_PROPERTY_SET)) {
			e->post = POST_PROP;
		} else {
			exp_exact(e, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_OPCODE);
		}
		return;
	}
	if (qp->qid != 0) {
		io_expect(r, e);
	} else {
		admin_expect(r, e);
		r->aer = cmd->opc == SPIO_NVME_OPC_ASYNC_EVENT_REQUEST;
	}
}

/*
 * Checks of a completion (on the poll group's thread, in req_complete)
 */

static bool cpl_ok(const struct spio_nvme_cpl *cpl)
{
	return cpl->status.sct == SPIO_NVME_SCT_GENERIC && cpl->status.sc == SPIO_NVME_SC_SUCCESS;
}

static void fail_cpl(const struct nc_req *r, const char *what) __attribute__((noreturn));

static void fail_cpl(const struct nc_req *r, const char *what)
{
	int fctype = nvme_fabric_cmd_type(&r->orig);

	die("qid %u opcode %#x (fctype %d) cid %u nsid %u cdw10 %#x cdw11 %#x cdw12 %#x len %u: "
	    "%s (status sct %u sc %#x, cdw0 %#x)",
	    r->conn->qpair.qid, r->orig.opc, fctype, r->orig.cid, r->orig.nsid, r->orig.cdw10,
	    r->orig.cdw11, r->orig.cdw12, r->len, what, r->cpl.status.sct, r->cpl.status.sc,
	    r->cpl.cdw0);
}

static void check_identify(const struct nc_req *r)
{
	const struct spio_nvme_cmd *cmd = &r->orig;
	uint8_t *buf = malloc(SPIO_NVME_IDENTIFY_BUFLEN);
	uint8_t cns = cmd->cdw10 & 0xff;

	if (buf == NULL) {
		die("out of memory");
	}
	req_read_buf(r, 0, buf, SPIO_NVME_IDENTIFY_BUFLEN);
	if (!req_zero_from(r, SPIO_NVME_IDENTIFY_BUFLEN)) {
		fail_cpl(r, "Identify wrote beyond its 4096 bytes");
	}
	if (cns == SPIO_NVME_IDENTIFY_CTRLR) {
		const struct spio_nvme_ctrlr_data *cd = (const void *)buf;
		const char *nqn = r->exp.discovery ? SPIO_NVMF_DISCOVERY_NQN : NC_SUBNQN;

		if (cd->cntlid != r->exp.cntlid ||
		    strncmp(cd->subnqn, nqn, sizeof(cd->subnqn)) != 0 ||
		    cd->nn != (r->exp.discovery ? 0 : NC_MAX_NSID)) {
			fail_cpl(r, "Identify Controller data do not match the controller");
		}
	} else if (g.ns_changed && cmd->nsid == 2) {
		/* Namespace 2 may be there or not: either answer is right. */
	} else if (cns == SPIO_NVME_IDENTIFY_NS) {
		const struct spio_nvme_ns_data *nd = (const void *)buf;
		uint64_t want = cmd->nsid == 1 ? NC_NS1_BLOCKS : cmd->nsid == 2 ? NC_NS2_BLOCKS : 0;

		if (nd->nsze != want || nd->ncap != want) {
			fail_cpl(r, "Identify Namespace: wrong size");
		}
	} else if (cns == SPIO_NVME_IDENTIFY_ACTIVE_NS_LIST) {
		const uint32_t *list = (const void *)buf;
		uint32_t n = 0;

		for (uint32_t nsid = 1; nsid <= 2; nsid++) {
			if (nsid == 2 && g.ns_changed && list[n] != nsid) {
				continue;
			}
			if (nsid > cmd->nsid && list[n++] != nsid) {
				fail_cpl(r, "Active Namespace List: wrong list");
			}
		}
		if (list[n] != 0) {
			fail_cpl(r, "Active Namespace List: namespaces that do not exist");
		}
	} else if (cns == SPIO_NVME_IDENTIFY_NS_ID_DESCRIPTOR_LIST) {
		if (buf[0] < SPIO_NVME_NIDT_EUI64 || buf[0] > SPIO_NVME_NIDT_UUID) {
			fail_cpl(r, "Namespace Identification Descriptors: bad first descriptor");
		}
	}
	free(buf);
}

/* [ofst, ofst + size) lies within one property of a fabrics controller. */
static bool prop_known(uint32_t ofst, uint32_t size)
{
	static const struct {
		uint32_t ofst, size;
	} props[] = {
	    {SPIO_NVME_REG_CAP, 8},  {SPIO_NVME_REG_VS, 4},   {SPIO_NVME_REG_CC, 4},
	    {SPIO_NVME_REG_CSTS, 4}, {SPIO_NVME_REG_NSSR, 4},
	};

	for (size_t i = 0; i < SPIO_COUNTOF(props); i++) {
		if (ofst >= props[i].ofst &&
		    (uint64_t)ofst + size <= props[i].ofst + props[i].size) {
			return true;
		}
	}
	return false;
}

/*
 * CSTS says a reset (RDY 0) or a shutdown (SHST complete) is done: no I/O
 * command of that controller submitted before this Property Get may still
 * be executing, or it could change the namespace after the host was told
 * everything stopped (and, after a reset, overwrite newer data).
 */
static void check_quiesced(const struct nc_req *r, uint32_t csts)
{
	union spio_nvme_csts_register c = {.raw = csts};

	if (c.bits.rdy && c.bits.shst != SPIO_NVME_SHST_COMPLETE) {
		return;
	}
	for (uint32_t i = 0; i < NC_NUM_CONNS; i++) {
		const struct nc_conn *conn = &g.conns[i];

		if (conn->qpair.qid == 0 || (const void *)conn->qpair.ctrlr != r->exp.ctrlr) {
			continue;
		}
		for (uint32_t j = 0; j < NC_QUEUE_DEPTH; j++) {
			const struct nc_req *io = &conn->reqs[j];

			if (io->in_use && !io->done && io->seq < r->seq) {
				fail_cpl(r, c.bits.rdy
						? "CSTS.SHST says shutdown complete while an "
						  "I/O command still executes"
						: "CSTS.RDY 0 (reset done) while an I/O command "
						  "still executes");
			}
		}
	}
}

static void check_prop(const struct nc_req *r)
{
	const struct spio_nvmf_fabric_prop_get_cmd *p = (const void *)&r->orig;
	uint32_t size = p->attrib.size == SPIO_NVMF_PROP_SIZE_8 ? 8 : 4;
	uint64_t value = (uint64_t)r->cpl.cdw0 | ((uint64_t)r->cpl.cdw1 << 32);
	uint32_t ofst = p->ofst;

	if (p->attrib.size > SPIO_NVMF_PROP_SIZE_8) {
		fail_cpl(r, "property size neither 4 nor 8 accepted");
	}
	if (p->fctype == SPIO_NVMF_FABRIC_COMMAND_PROPERTY_SET) {
		if (size != 4 || (ofst != SPIO_NVME_REG_CC && ofst != SPIO_NVME_REG_CSTS)) {
			fail_cpl(r, "Property Set accepted for a read-only or unknown property");
		}
		return;
	}
	if (!prop_known(ofst, size)) {
		fail_cpl(r, "Property Get accepted for an unknown property");
	}
	if (ofst == SPIO_NVME_REG_CAP && (value & 0xffff) != NC_QUEUE_DEPTH - 1) {
		fail_cpl(r, "CAP.MQES is not the transport's queue depth");
	}
	if (ofst == SPIO_NVME_REG_VS && size == 4 && value != SPIO_NVME_VERSION(1, 3, 0)) {
		fail_cpl(r, "VS is not 1.3");
	}
	if (ofst == SPIO_NVME_REG_CSTS && size == 4) {
		check_quiesced(r, (uint32_t)value);
	}
}

static void ns1_mark(uint64_t slba, uint64_t nlb, bool known)
{
	memset(&g.known[slba], known, nlb);
}

/* Namespace 1: the command was the only one changing it from submission to now. */
static bool ns1_alone(const struct nc_req *r)
{
	return r->exp.alone && g.ns1_epoch == r->exp.epoch;
}

static void check_ns1(struct nc_req *r)
{
	const struct expect *e = &r->exp;
	uint64_t off = e->slba * NC_NS1_BLOCK_SIZE, n = e->nlb * NC_NS1_BLOCK_SIZE;
	bool ok = cpl_ok(&r->cpl), alone = ns1_alone(r);
	uint8_t *buf;

	switch (e->post) {
	case POST_WRITE1:
	case POST_ZERO1:
		if (ok && alone) {
			if (e->post == POST_WRITE1) {
				req_read_buf(r, 0, g.shadow + off, n);
			} else {
				memset(g.shadow + off, 0, n);
			}
		}
		ns1_mark(e->slba, e->nlb, ok && alone);
		g.ns1_writers--;
		g.ns1_epoch++;
		return;
	case POST_DSM1:
		/* Deallocated blocks read as whatever the bdev says. */
		memset(g.known, 0, sizeof(g.known));
		g.ns1_writers--;
		g.ns1_epoch++;
		return;
	default:
		break;
	}
	/* Read or compare: against the shadow where it is known and nothing wrote since. */
	if (!alone || !(ok || e->post == POST_COMPARE1)) {
		return;
	}
	buf = malloc(n);
	if (buf == NULL) {
		die("out of memory");
	}
	req_read_buf(r, 0, buf, n);
	if (e->post == POST_READ1) {
		for (uint64_t b = 0; b < e->nlb; b++) {
			uint64_t at = b * NC_NS1_BLOCK_SIZE;

			if (g.known[e->slba + b] &&
			    memcmp(buf + at, g.shadow + off + at, NC_NS1_BLOCK_SIZE) != 0) {
				fail_cpl(r, "read data differ from what was written");
			}
		}
	} else {
		bool all_known = memchr(&g.known[e->slba], 0, e->nlb) == NULL;
		bool same = memcmp(buf, g.shadow + off, n) == 0;

		if (!ok && (r->cpl.status.sct != SPIO_NVME_SCT_MEDIA_ERROR ||
			    r->cpl.status.sc != SPIO_NVME_SC_COMPARE_FAILURE)) {
			fail_cpl(r, "Compare failed with a status other than Compare Failure");
		}
		if (all_known && ok != same) {
			fail_cpl(r, ok ? "Compare succeeded on different data"
				       : "Compare failed on equal data");
		}
	}
	free(buf);
}

/*
 * Health log: Host Read / Write Commands lie between the reads / writes of
 * the controller done before the Get Log Page and those submitted by now.
 */
static void check_health(const struct nc_req *r)
{
	const struct spio_nvme_cmd *cmd = &r->orig;
	struct ctrlr_io *cio = ctrlr_io(&r->exp);
	uint64_t count[2];

	if ((cmd->cdw10 & 0xff) != SPIO_NVME_LOG_HEALTH_INFORMATION || r->exp.discovery ||
	    cmd->cdw12 != 0 || cmd->cdw13 != 0 || r->exp.copy < 96 || cio == NULL) {
		return;
	}
	req_read_buf(r, 64, &count[0], 8);
	req_read_buf(r, 80, &count[1], 8);
	for (int k = 0; k < 2; k++) {
		if (count[k] < r->exp.io_done[k] || count[k] > cio->submitted[k]) {
			fail_cpl(r, k == 0 ? "health log: Host Read Commands wrong"
					   : "health log: Host Write Commands wrong");
		}
	}
}

static void check_completion(struct nc_req *r)
{
	const struct spio_nvme_cpl *cpl = &r->cpl;
	const struct expect *e = &r->exp;
	bool ok = cpl_ok(cpl);

	if (g.verbose) {
		fprintf(stderr, "fuzz_nvmf_cmd: <- qid %u cid %u: status %u/%#x cdw0 %#x\n",
			r->conn->qpair.qid, cpl->cid, cpl->status.sct, cpl->status.sc, cpl->cdw0);
	}
	if (memcmp(&r->cmd, &r->orig, sizeof(r->cmd)) != 0) {
		fail_cpl(r, "the core changed the SQE");
	}
	if (ok && io_kind(r) >= 0 && ctrlr_io(e) != NULL) {
		ctrlr_io(e)->done[io_kind(r)]++;
	}
	if (cpl->cid != r->orig.cid || cpl->sqid != r->conn->qpair.qid || cpl->status.p != 0) {
		fail_cpl(r, "wrong CID, SQID or phase in the completion");
	}
	switch (e->kind) {
	case EXP_FAIL:
		if (ok) {
			fail_cpl(r, "succeeded; must fail");
		}
		break;
	case EXP_OK:
		if (!ok) {
			fail_cpl(r, "failed; must succeed");
		}
		break;
	case EXP_EXACT:
		if (cpl->status.sct != e->sct || cpl->status.sc != e->sc) {
			char what[64];

			snprintf(what, sizeof(what), "status must be sct %u sc %#x", e->sct, e->sc);
			fail_cpl(r, what);
		}
		break;
	default:
		break;
	}
	switch (e->post) {
	case POST_IDENTIFY:
		if (ok) {
			check_identify(r);
		}
		break;
	case POST_LOG:
		if (ok && !req_zero_from(r, e->copy)) {
			fail_cpl(r, "Get Log Page: bytes beyond the page or NUMD not zero");
		}
		if (ok) {
			check_health(r);
		}
		break;
	case POST_PROP:
		if (ok) {
			check_prop(r);
		}
		break;
	case POST_CONNECT:
		if (ok && (r->len < NVME_FABRIC_CONNECT_DATA_LEN || (uint16_t)cpl->cdw0 == 0 ||
			   (uint16_t)cpl->cdw0 >= 0xfff0)) {
			fail_cpl(r,
				 "Connect succeeded without its data or with a bad controller ID");
		}
		break;
	case POST_AER:
		if (ok) {
			union spio_nvme_async_event_completion want = {.raw = 0};

			want.bits.async_event_type = SPIO_NVME_ASYNC_EVENT_TYPE_NOTICE;
			want.bits.async_event_info = SPIO_NVME_ASYNC_EVENT_NS_ATTR_CHANGED;
			want.bits.log_page_identifier = SPIO_NVME_LOG_CHANGED_NS_LIST;
			if (!g.ns_changed || cpl->cdw0 != want.raw) {
				fail_cpl(r, "AER completed without a namespace change to report");
			}
		}
		break;
	case POST_ABORT:
		if (ok && (cpl->cdw0 & 1) == 0) {
			fail_cpl(r, "Abort says it aborted a command, but commands run to the end");
		}
		break;
	case POST_READ1:
	case POST_COMPARE1:
	case POST_WRITE1:
	case POST_ZERO1:
	case POST_DSM1:
		check_ns1(r);
		break;
	default:
		break;
	}
}

/*
 * Submitting
 */

static struct nc_req *free_req(struct nc_conn *c)
{
	for (uint32_t i = 0; i < NC_QUEUE_DEPTH; i++) {
		if (!c->reqs[i].in_use) {
			return &c->reqs[i];
		}
	}
	return NULL;
}

/* Release the completed requests of every connection. */
static void collect(void)
{
	for (uint32_t i = 0; i < NC_NUM_CONNS; i++) {
		for (uint32_t j = 0; j < NC_QUEUE_DEPTH; j++) {
			struct nc_req *r = &g.conns[i].reqs[j];

			if (r->in_use && r->done) {
				req_free_buf(r);
				r->in_use = false;
			}
		}
	}
}

static uint8_t cmd_xfer(const struct spio_nvme_cmd *cmd, uint32_t len)
{
	int type = nvme_fabric_cmd_type(cmd);
	uint8_t xfer = type >= 0 ? (uint8_t)(type & 3) : spio_nvme_opc_get_data_transfer(cmd->opc);

	return len == 0 ? SPIO_NVME_DATA_NONE : xfer;
}

/* Hand a command to the core. \return the request, or NULL if none is free. */
static struct nc_req *submit(struct nc_conn *c, const struct spio_nvme_cmd *sqe, uint32_t len,
			     const uint8_t *data, uint32_t data_len)
{
	struct nc_req *r = free_req(c);
	struct spio_thread *prev;

	if (r == NULL) {
		return NULL;
	}
	memset(&r->req, 0, sizeof(r->req));
	r->orig = *sqe;
	r->cmd = *sqe;
	r->xfer = cmd_xfer(sqe, len);
	r->len = r->xfer == SPIO_NVME_DATA_NONE ? 0 : len;
	r->aer = false;
	r->done = 0;
	r->seq = ++g.seq;
	r->in_use = true;
	if (r->len > 0) {
		req_alloc_buf(r, r->len, data, data_len);
	}
	memset(&r->cpl, 0xff, sizeof(r->cpl));
	r->req.qpair = &c->qpair;
	r->req.cmd = &r->cmd;
	r->req.rsp = &r->cpl;
	r->req.length = r->len;
	r->req.xfer = r->xfer;
	if (g.verbose) {
		fprintf(stderr,
			"fuzz_nvmf_cmd: -> conn %td qid %u opcode %#x cid %u nsid %u cdw10 %#x "
			"len %u\n",
			c - g.conns, c->qpair.qid, sqe->opc, sqe->cid, sqe->nsid, sqe->cdw10,
			r->len);
	}
	prev = spio_thread_enter(g.pt);
	expect(r);
	if (ctrlr_io(&r->exp) != NULL) {
		struct ctrlr_io *cio = ctrlr_io(&r->exp);

		memcpy(r->exp.io_done, cio->done, sizeof(cio->done));
		if (io_kind(r) >= 0) {
			cio->submitted[io_kind(r)]++;
		}
	}
	if (is_ns1_writer(&r->exp)) {
		g.ns1_writers++;
		g.ns1_epoch++;
	}
	r->exp.epoch = g.ns1_epoch;
	r->exp.alone = g.ns1_writers == (is_ns1_writer(&r->exp) ? 1u : 0u);
	if (is_ns1_writer(&r->exp) || sqe->opc == SPIO_NVME_OPC_WRITE ||
	    sqe->opc == SPIO_NVME_OPC_WRITE_ZEROES ||
	    sqe->opc == SPIO_NVME_OPC_DATASET_MANAGEMENT) {
		if (c->qpair.qid != 0 && (sqe->nsid == 1 || sqe->nsid == 2)) {
			g.dirty[sqe->nsid - 1] = true;
		}
	}
	if (r->xfer == SPIO_NVME_DATA_BIDIRECTIONAL) {
		/* As NVMe/TCP: no bidirectional commands. Never passed to exec. */
		memset(&r->cpl, 0, sizeof(r->cpl));
		r->cpl.status.sct = SPIO_NVME_SCT_GENERIC;
		r->cpl.status.sc = SPIO_NVME_SC_INVALID_OPCODE;
		nvmf_request_complete(&r->req);
	} else {
		nvmf_request_exec(&r->req);
	}
	spio_thread_leave(prev);
	return r;
}

static bool retry_pending(void)
{
	bool any = false;

	for (uint32_t i = 0; i < NC_NUM_CONNS; i++) {
		for (uint32_t j = 0; j < NC_QUEUE_DEPTH; j++) {
			const struct nc_req *r = &g.conns[i].reqs[j];

			if (r->in_use && !r->done && r->req.connect_retry != NULL) {
				/* A Connect whose qid was in use looks again a moment later. */
				if (g.clock < r->req.connect_retry_at) {
					g.clock = r->req.connect_retry_at;
				}
				any = true;
			}
		}
	}
	return any;
}

/* Poll until `r` completed (NULL: until quiet), or quiet with nothing waiting on time. */
static void wait_req(const struct nc_req *r)
{
	uint64_t limit = spio_get_ticks() + ft_ms_to_ticks(HANG_MS);
	int quiet = 0;

	while (r == NULL || !r->done) {
		bool busy = ft_pump();

		quiet = busy ? 0 : quiet + 1;
		if (quiet >= QUIET_POLLS && !retry_pending()) {
			break;
		}
		if (spio_get_ticks() > limit) {
			die("the target stayed busy for %u ms", HANG_MS);
		}
	}
}

/* Poll until every command but the AERs held has completed. */
static void wait_all(void)
{
	uint64_t limit = spio_get_ticks() + ft_ms_to_ticks(HANG_MS);

	for (;;) {
		const struct nc_req *out = NULL;

		for (uint32_t i = 0; i < NC_NUM_CONNS && out == NULL; i++) {
			for (uint32_t j = 0; j < NC_QUEUE_DEPTH; j++) {
				const struct nc_req *r = &g.conns[i].reqs[j];

				if (r->in_use && !r->done && !r->aer) {
					out = r;
					break;
				}
			}
		}
		if (out == NULL) {
			return;
		}
		if (spio_get_ticks() > limit) {
			die("qid %u opcode %#x cid %u not completed after %u ms",
			    out->conn->qpair.qid, out->orig.opc, out->orig.cid, HANG_MS);
		}
		ft_pump();
		retry_pending();
	}
}

/* A command of the fuzzer itself that must succeed. */
static struct spio_nvme_cpl run_ok(struct nc_conn *c, struct spio_nvme_cmd *cmd, const void *data,
				   uint32_t len, const char *what)
{
	struct nc_req *r;

	cmd->cid = (uint16_t)(CID_SETUP + (c - g.conns));
	r = submit(c, cmd, len, data, len);
	if (r == NULL) {
		die("%s: no free request", what);
	}
	wait_req(r);
	if (!r->done) {
		die("%s: no completion", what);
	}
	if (!cpl_ok(&r->cpl)) {
		die("%s: status sct %u sc %#x", what, r->cpl.status.sct, r->cpl.status.sc);
	}
	collect();
	return r->cpl;
}

static void connect_queue(struct nc_conn *c, uint16_t qid, uint16_t cntlid, bool no_sqfc)
{
	static const uint8_t hostid[16] = NC_HOSTID;
	struct spio_nvmf_fabric_connect_data data;
	struct spio_nvme_cmd cmd;
	struct spio_nvme_cpl cpl;

	nvme_fabric_connect_cmd_build(&cmd, qid, NC_QUEUE_DEPTH - 1, 0,
				      no_sqfc ? SPIO_NVMF_CONNECT_CATTR_DISABLE_SQ_FLOW : 0);
	nvme_fabric_connect_data_build(&data, hostid, cntlid, NC_SUBNQN, NC_HOSTNQN);
	cpl = run_ok(c, &cmd, &data, sizeof(data), "the fuzzer's Connect");
	if ((uint16_t)cpl.cdw0 != NC_CNTLID) {
		die("Connect qid %u: controller %u, expected %u", qid, (uint16_t)cpl.cdw0,
		    NC_CNTLID);
	}
}

static void enable_ctrlr(struct nc_conn *c)
{
	union spio_nvme_cc_register cc = {.raw = 0};
	struct spio_nvme_cmd cmd;

	cc.bits.en = 1;
	cc.bits.iosqes = 6;
	cc.bits.iocqes = 4;
	nvme_fabric_prop_set_build(&cmd, SPIO_NVME_REG_CC, 4, cc.raw);
	run_ok(c, &cmd, NULL, 0, "CC.EN 1");
}

/*
 * Target set-up
 */

static void op_done(void *arg, int status)
{
	struct op *op = arg;

	op->status = status;
	op->done = 1;
}

static void tgt_created(void *arg, struct spio_nvmf_tgt *tgt, int status)
{
	struct op *op = arg;

	op->tgt = tgt;
	op_done(op, status);
}

static void ns_added(void *arg, uint32_t nsid, int status)
{
	(void)nsid;
	op_done(arg, status);
}

static void bdev_fini_done(void *arg)
{
	op_done(arg, 0);
}

static bool op_is_done(void *arg)
{
	return ((struct op *)arg)->done;
}

static void wait_op(struct op *op, const char *what)
{
	if (!ft_pump_until(op_is_done, op, 10 * HANG_MS)) {
		die("%s did not finish", what);
	}
	if (op->status != 0) {
		die("%s failed: %d", what, op->status);
	}
}

static void make_malloc(const char *name, uint64_t blocks, uint32_t block_size)
{
	struct spio_bdev_malloc_opts mo;
	struct spio_bdev *bdev;
	int rc;

	spio_bdev_malloc_opts_init(&mo, sizeof(mo));
	mo.name = name;
	mo.num_blocks = blocks;
	mo.block_size = block_size;
	rc = spio_bdev_malloc_create(&mo, &bdev, NULL, 0);
	if (rc != 0) {
		die("malloc bdev %s: %d", name, rc);
	}
}

static void add_ns(const char *bdev, uint32_t nsid)
{
	struct spio_nvmf_ns_opts no;
	struct op op = {0};
	int rc;

	spio_nvmf_ns_opts_init(&no, sizeof(no));
	no.nsid = nsid;
	rc = spio_nvmf_subsystem_add_ns(g.subsys, bdev, &no, ns_added, &op);
	if (rc != 0) {
		die("add_ns %s: %d", bdev, rc);
	}
	wait_op(&op, "add_ns");
}

static void start_target(void)
{
	struct spio_nvmf_transport_opts to;
	struct spio_nvmf_tgt_opts go;
	struct spio_nvme_transport_id trid;
	struct spio_bdev *ee;
	struct op op = {0};
	int rc;

	rc = nvmf_transport_register(&g_ops);
	if (rc != 0 && rc != -EEXIST) {
		die("nvmf_transport_register: %d", rc);
	}
	spio_nvmf_tgt_opts_init(&go, sizeof(go));
	spio_cpuset_zero(&go.cpumask);
	spio_cpuset_set_cpu(&go.cpumask, spio_env_get_first_core(), true);
	rc = spio_nvmf_tgt_create(&go, tgt_created, &op);
	if (rc != 0) {
		die("spio_nvmf_tgt_create: %d", rc);
	}
	wait_op(&op, "target start");
	g.tgt = op.tgt;
	g.pg = g.tgt->groups[0];
	g.pt = nvmf_poll_group_get_thread(g.pg);

	spio_nvmf_transport_opts_init(NC_TRANSPORT, &to, sizeof(to));
	to.max_queue_depth = NC_QUEUE_DEPTH;
	to.max_aq_depth = NC_QUEUE_DEPTH;
	to.max_io_qpairs_per_ctrlr = NC_MAX_IO_QPAIRS;
	to.max_io_size = NC_MAX_IO;
	to.io_unit_size = NC_MAX_IO;
	to.in_capsule_data_size = NC_ICDSZ;
	rc = spio_nvmf_tgt_add_transport(g.tgt, NC_TRANSPORT, &to);
	if (rc != 0) {
		die("add_transport: %d", rc);
	}
	g.tr = (struct nvmf_transport *)spio_nvmf_tgt_get_transport(g.tgt, NC_TRANSPORT);

	make_malloc(NS1_BDEV, NC_NS1_BLOCKS, NC_NS1_BLOCK_SIZE);
	make_malloc(NS2_BASE, NC_NS2_BLOCKS, NC_NS2_BLOCK_SIZE);
	rc = spio_bdev_error_create(NS2_BASE, NULL, &ee);
	if (rc != 0 || ee == NULL) {
		die("error bdev: %d", rc);
	}
	g.subsys = spio_nvmf_subsystem_create(g.tgt, NC_SUBNQN, NC_MAX_NSID);
	if (g.subsys == NULL) {
		die("subsystem %s: errno %d", NC_SUBNQN, errno);
	}
	spio_nvmf_subsystem_set_allow_any_host(g.subsys, true);
	add_ns(NS1_BDEV, 1);
	add_ns(NS2_BDEV, 2);
	trid = nc_trid(NC_ADDR, NC_SVC);
	rc = spio_nvmf_subsystem_add_listener(g.subsys, &trid);
	if (rc != 0) {
		die("add_listener: %d", rc);
	}
}

static void stop_target(void)
{
	struct op op = {0};

	spio_set_thread(g.tt);
	if (spio_nvmf_tgt_destroy(g.tgt, op_done, &op) != 0) {
		die("spio_nvmf_tgt_destroy refused");
	}
	wait_op(&op, "target destroy");
	memset(&op, 0, sizeof(op));
	if (spio_bdev_finish(bdev_fini_done, &op) != 0) {
		die("spio_bdev_finish refused");
	}
	wait_op(&op, "bdev finish");
	spio_set_thread(NULL);
	if (!ft_threads_stop(10 * HANG_MS)) {
		die("threads did not exit");
	}
	nvmf_set_ticks_fn(NULL);
	spio_thread_lib_fini();
	spio_env_fini();
}

static void fini(void)
{
	if (g.ready) {
		g.ready = false;
		stop_target();
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct spio_env_opts eo;
	struct op op = {0};
	const char *verbose = getenv("FUZZ_VERBOSE");

	(void)argc;
	(void)argv;
	if (g.ready) {
		return 0;
	}
	g.verbose = verbose != NULL && verbose[0] == '1';
	spio_log_set_level(g.verbose ? SPIO_LOG_INFO : SPIO_LOG_DISABLED);
	spio_env_opts_init(&eo, sizeof(eo));
	eo.name = "fuzz_nvmf_cmd";
	eo.no_huge = true;
	if (spio_env_init(&eo) != 0 || spio_thread_lib_init(ft_thread_add, 0) != 0) {
		die("environment set-up failed");
	}
	g.tt = spio_thread_create("fuzz_nvmf_tgt", NULL);
	if (g.tt == NULL) {
		die("no target thread");
	}
	spio_set_thread(g.tt);
	if (spio_bdev_initialize(NULL, op_done, &op) != 0) {
		die("spio_bdev_initialize refused");
	}
	wait_op(&op, "bdev init");
	start_target();
	spio_set_thread(NULL);
	/* Keep-alive and the duplicate-qid re-check run on a clock only this file moves. */
	g.clock = 1ull << 32;
	nvmf_set_ticks_fn(fake_ticks);
	/* The namespaces start as zeroes. */
	memset(g.known, 1, sizeof(g.known));
	g.ready = true;
	atexit(fini);
	return 0;
}

/*
 * One input
 */

static void conns_start(void)
{
	struct spio_thread *prev = spio_thread_enter(g.pt);

	memset(g.conns, 0, sizeof(g.conns));
	for (uint32_t i = 0; i < NC_NUM_CONNS; i++) {
		struct nc_conn *c = &g.conns[i];

		c->qpair.transport = g.tr;
		c->qpair.listen_trid = nc_trid(NC_ADDR, NC_SVC);
		c->qpair.peer_trid = nc_trid("127.0.0.2", "50000");
		for (uint32_t j = 0; j < NC_QUEUE_DEPTH; j++) {
			c->reqs[j].conn = c;
		}
		nvmf_poll_group_add_qpair(g.pg, &c->qpair);
	}
	spio_thread_leave(prev);
}

static void drop_conn(struct nc_conn *c)
{
	struct spio_thread *prev;

	if (c->gone) {
		return;
	}
	c->gone = true;
	prev = spio_thread_enter(g.pt);
	nvmf_qpair_disconnect(&c->qpair);
	spio_thread_leave(prev);
}

static void inject(const struct spio_nvme_cmd *cmd)
{
	static const enum spio_bdev_io_type types[] = {
	    SPIO_BDEV_IO_TYPE_READ,  SPIO_BDEV_IO_TYPE_WRITE, SPIO_BDEV_IO_TYPE_UNMAP,
	    SPIO_BDEV_IO_TYPE_FLUSH, SPIO_BDEV_NUM_IO_TYPES,
	};
	static const enum spio_bdev_error_type errs[] = {
	    SPIO_BDEV_ERROR_TYPE_FAILURE,
	    SPIO_BDEV_ERROR_TYPE_PENDING,
	    SPIO_BDEV_ERROR_TYPE_CORRUPT_DATA,
	    SPIO_BDEV_ERROR_TYPE_NOMEM,
	};
	struct spio_bdev_error_inject_opts o;
	int rc;

	memset(&o, 0, sizeof(o));
	o.io_type = types[cmd->cdw10 % SPIO_COUNTOF(types)];
	o.error_type = errs[cmd->cdw11 % SPIO_COUNTOF(errs)];
	o.num = cmd->cdw12 % 8 + 1;
	o.corrupt_offset = cmd->cdw13;
	o.corrupt_value = (uint8_t)(cmd->cdw14 | 1);
	rc = spio_bdev_error_inject(NS2_BDEV, &o);
	if (rc != 0) {
		die("spio_bdev_error_inject: %d", rc);
	}
	g.injected = true;
	g.dirty[1] = true;
}

static void resume_pending(void)
{
	struct spio_thread *prev = spio_thread_enter(g.tt);
	int rc = spio_bdev_error_resume_pending(NS2_BDEV);

	spio_thread_leave(prev);
	if (rc != 0) {
		die("spio_bdev_error_resume_pending: %d", rc);
	}
}

static void ns_op_done(void *arg, int status)
{
	(void)arg;
	(void)status;
	g.ns_op--;
}

static void ns_added_back(void *arg, uint32_t nsid, int status)
{
	(void)nsid;
	if (status == 0) {
		g.ns2_removed = false;
	}
	ns_op_done(arg, status);
}

/* Start removing namespace 2, or adding it back; a refusal (busy) changes nothing. */
static void ns_change(bool add)
{
	struct spio_thread *prev = spio_thread_enter(g.tt);
	int rc = -EINVAL;

	if (!add && !g.ns2_removed) {
		rc = spio_nvmf_subsystem_remove_ns(g.subsys, 2, ns_op_done, NULL);
		if (rc == 0) {
			g.ns2_removed = true;
		}
	} else if (add && g.ns2_removed) {
		struct spio_nvmf_ns_opts no;

		spio_nvmf_ns_opts_init(&no, sizeof(no));
		no.nsid = 2;
		rc = spio_nvmf_subsystem_add_ns(g.subsys, NS2_BDEV, &no, ns_added_back, NULL);
	}
	spio_thread_leave(prev);
	if (rc == 0) {
		g.ns_op++;
		g.ns_changed = true;
	}
}

/* Wait for namespace changes to end, and namespace 2 to be back. */
static void ns_restore(void)
{
	uint64_t limit = spio_get_ticks() + ft_ms_to_ticks(HANG_MS);

	for (int round = 0; round < 2; round++) {
		while (g.ns_op > 0) {
			if (spio_get_ticks() > limit) {
				die("a namespace change did not end in %u ms", HANG_MS);
			}
			ft_pump();
		}
		if (!g.ns2_removed) {
			return;
		}
		ns_change(true);
		if (g.ns_op == 0) {
			die("namespace 2 cannot be added back");
		}
	}
	die("namespace 2 not back after the input");
}

static void control(const struct spio_nvme_cmd *cmd)
{
	switch (cmd->opc) {
	case NC_CTL_SETTLE:
		wait_req(NULL);
		break;
	case NC_CTL_DROP:
		drop_conn(&g.conns[cmd->cdw10 % NC_NUM_CONNS]);
		break;
	case NC_CTL_INJECT:
		inject(cmd);
		break;
	case NC_CTL_RESUME:
		resume_pending();
		break;
	case NC_CTL_NS:
		ns_change(cmd->cdw10 & 1);
		break;
	default:
		break;
	}
}

/* An enabled NVM controller on the admin queue answers a plain Identify. */
static void check_works(void)
{
	struct nc_conn *c = &g.conns[NC_Q_ADMIN];
	struct nvmf_ctrlr *ctrlr = c->qpair.ctrlr;
	struct spio_nvme_cmd cmd;

	if (c->gone || c->qpair.state != NVMF_QPAIR_ACTIVE || c->qpair.qid != 0 || ctrlr == NULL ||
	    nvmf_ctrlr_is_discovery(ctrlr) || ctrlr->disconnecting || !ctrlr->cc.bits.en ||
	    ctrlr->cc.bits.shn != 0 || ctrlr->cc_change != NVMF_CC_NONE) {
		return;
	}
	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = SPIO_NVME_OPC_IDENTIFY;
	cmd.cdw10 = SPIO_NVME_IDENTIFY_CTRLR;
	run_ok(c, &cmd, NULL, SPIO_NVME_IDENTIFY_BUFLEN, "Identify after the input");
}

static void zero_done(struct spio_bdev_io *bdev_io, bool success, void *arg)
{
	spio_bdev_free_io(bdev_io);
	op_done(arg, success ? 0 : -EIO);
}

/* Namespace contents back to zeroes, through the poll group's own channel of it. */
static void zero_ns(uint32_t nsid)
{
	struct nvmf_pg_ns *ns = &g.pg->sgroups[g.subsys->id].ns[nsid - 1];
	struct spio_thread *prev = spio_thread_enter(g.pt);
	struct op op = {0};
	int rc;

	rc = spio_bdev_write_zeroes_blocks(ns->desc, ns->ch, 0, spio_bdev_get_num_blocks(ns->bdev),
					   zero_done, &op);
	spio_thread_leave(prev);
	if (rc != 0) {
		die("zeroing namespace %u: %d", nsid, rc);
	}
	wait_op(&op, "zeroing a namespace");
}

static void end_input(void)
{
	struct spio_thread *prev;
	uint64_t limit;

	if (g.injected) {
		struct spio_bdev_error_inject_opts o = {
		    .io_type = SPIO_BDEV_IO_TYPE_INVALID,
		    .error_type = SPIO_BDEV_ERROR_TYPE_FAILURE,
		};

		resume_pending();
		if (spio_bdev_error_inject(NS2_BDEV, &o) != 0) {
			die("clearing the injections failed");
		}
		g.injected = false;
	}
	wait_all();
	ns_restore();
	wait_all();
	collect();
	check_works();
	for (uint32_t i = 0; i < NC_NUM_CONNS; i++) {
		drop_conn(&g.conns[i]);
	}
	limit = spio_get_ticks() + ft_ms_to_ticks(HANG_MS);
	for (uint32_t i = 0; i < NC_NUM_CONNS; i++) {
		while (g.conns[i].fini == 0) {
			if (spio_get_ticks() > limit) {
				die("connection %u not finished %u ms after its drop", i, HANG_MS);
			}
			ft_pump();
		}
	}
	/* Held AERs ended with their queue, once each (checked in req_complete). */
	for (uint32_t i = 0; i < NC_NUM_CONNS; i++) {
		for (uint32_t j = 0; j < NC_QUEUE_DEPTH; j++) {
			if (g.conns[i].reqs[j].in_use && !g.conns[i].reqs[j].done) {
				die("opcode %#x never completed", g.conns[i].reqs[j].orig.opc);
			}
		}
	}
	collect();
	prev = spio_thread_enter(g.tt);
	if (!TAILQ_EMPTY(&g.subsys->ctrlrs) || !TAILQ_EMPTY(&g.tgt->discovery->ctrlrs)) {
		die("controllers left after every queue went");
	}
	g.subsys->next_cntlid = NC_CNTLID;
	spio_thread_leave(prev);
	if (!TAILQ_EMPTY(&g.pg->qpairs) || g.pg->stat.current_admin_qpairs != 0 ||
	    g.pg->stat.current_io_qpairs != 0 || g.pg->stat.current_unassociated_qpairs != 0) {
		die("poll group not back: admin %u io %u unassociated %u",
		    g.pg->stat.current_admin_qpairs, g.pg->stat.current_io_qpairs,
		    g.pg->stat.current_unassociated_qpairs);
	}
	for (uint32_t nsid = 1; nsid <= 2; nsid++) {
		if (g.pg->sgroups[g.subsys->id].ns[nsid - 1].outstanding != 0) {
			die("namespace %u: commands still counted", nsid);
		}
		if (g.dirty[nsid - 1]) {
			zero_ns(nsid);
			g.dirty[nsid - 1] = false;
		}
	}
	memset(g.shadow, 0, sizeof(g.shadow));
	memset(g.known, 1, sizeof(g.known));
	g.ns_changed = false;
	memset(g.cio, 0, sizeof(g.cio));
	if (g.ns1_writers != 0) {
		die("%u writes of namespace 1 never completed", g.ns1_writers);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nc_record rec;
	uint8_t flags, split_seed;
	size_t off = NC_HDR_LEN;
	uint32_t n = 0;

	if (!g.ready) {
		LLVMFuzzerInitialize(NULL, NULL);
	}
	nc_input_header(data, size, &flags, &split_seed);
	g.split = (flags & NC_F_SPLIT) != 0;
	g.rng = 0x9e3779b97f4a7c15ull ^ split_seed;
	conns_start();
	if (!(flags & NC_F_RAW_ADMIN)) {
		connect_queue(&g.conns[NC_Q_ADMIN], 0, SPIO_NVMF_CNTLID_DYNAMIC, false);
		enable_ctrlr(&g.conns[NC_Q_ADMIN]);
		if (!(flags & NC_F_RAW_IO)) {
			connect_queue(&g.conns[NC_Q_IO1], 1, NC_CNTLID, flags & NC_F_NO_SQFC);
			connect_queue(&g.conns[NC_Q_IO2], 2, NC_CNTLID, flags & NC_F_NO_SQFC);
		}
	}
	while (nc_input_next(data, size, &off, &rec)) {
		uint32_t q = rec.flags & NC_R_QUEUE_MASK;
		struct nc_conn *c;
		struct nc_req *r;

		n++;
		if (q == NC_Q_CTL) {
			control(&rec.sqe);
			collect();
			continue;
		}
		c = &g.conns[q];
		if (c->gone) {
			continue;
		}
		r = submit(c, &rec.sqe, rec.len, rec.data, rec.data_len);
		if (r == NULL) {
			/* Queue full: as a host, wait for room. */
			wait_req(NULL);
			collect();
			if (c->gone ||
			    (r = submit(c, &rec.sqe, rec.len, rec.data, rec.data_len)) == NULL) {
				continue;
			}
		}
		if (!(rec.flags & NC_R_NOWAIT)) {
			wait_req(r);
		}
		collect();
	}
	if (g.verbose) {
		fprintf(stderr, "fuzz_nvmf_cmd: input of %zu bytes, %u records\n", size, n);
	}
	end_input();
	return 0;
}

/*
 * Mutations: half the time one field of one record (nc_input_tweak), so
 * that changes land on the SQE rather than in the data; else libFuzzer's
 * (or the replay program's) on the whole input.
 */
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
	uint64_t rnd = (uint64_t)seed * 0x9e3779b97f4a7c15ull;

	rnd ^= rnd >> 29;
	if (rnd % 2 == 0 && nc_input_tweak(data, size, rnd >> 1)) {
		return size;
	}
	return LLVMFuzzerMutate(data, size, max_size);
}
