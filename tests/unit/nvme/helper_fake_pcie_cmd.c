/*
 * The fake NVMe PCIe controller's command execution (see
 * helper_fake_pcie_internal.h): the DMA checks, PRP and SGL walking, the
 * queue commands, the other admin commands, the I/O commands, and one
 * command executed with the armed fail and drop faults.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "spio/dma.h"
#include "spio/env.h"

#include "helper_fake_pcie_internal.h"

/* ---- DMA checks ---- */

uint8_t *fp_dma_ptr(uint64_t iova, uint64_t len)
{
	uint64_t sz = len;

	if (iova == 0 || len == 0) {
		return NULL;
	}
	if (spio_vtophys((const void *)(uintptr_t)iova, &sz) != iova || sz < len) {
		return NULL;
	}
	return (uint8_t *)(uintptr_t)iova;
}

static uint16_t add_seg(struct fake_pcie *fp, uint64_t iova, uint32_t len)
{
	uint8_t *p = fp_dma_ptr(iova, len);

	if (p == NULL) {
		fp_violation(fp, "data address 0x%" PRIx64 " (+%u) is not DMA memory", iova, len);
		return GENERIC(SPIO_NVME_SC_DATA_TRANSFER_ERROR);
	}
	if (fp->nsegs == MAX_SEGS) {
		fp_violation(fp, "more than %u data segments", MAX_SEGS);
		return GENERIC(SPIO_NVME_SC_INVALID_FIELD);
	}
	fp->segs[fp->nsegs].p = p;
	fp->segs[fp->nsegs].len = len;
	fp->nsegs++;
	return 0;
}

/* ---- PRP and SGL walking ---- */

static uint16_t walk_prp_list(struct fake_pcie *fp, uint64_t list, uint32_t rem)
{
	uint32_t ps = fp->page_size;

	fp->st.prp_lists++;
	if (list & 7) {
		fp_violation(fp, "PRP list pointer 0x%" PRIx64 " not qword aligned", list);
		return GENERIC(SPIO_NVME_SC_INVALID_PRP_OFFSET);
	}
	while (rem > 0) {
		uint32_t slots = (ps - (uint32_t)(list & (ps - 1))) / 8;
		const uint64_t *e = (const uint64_t *)fp_dma_ptr(list, (uint64_t)slots * 8);

		if (e == NULL) {
			fp_violation(fp, "PRP list 0x%" PRIx64 " is not DMA memory", list);
			return GENERIC(SPIO_NVME_SC_DATA_TRANSFER_ERROR);
		}
		for (uint32_t i = 0; i < slots && rem > 0; i++) {
			if (i == slots - 1 && rem > ps) {
				/* The last entry of a full list page points to the next page. */
				if (e[i] & (ps - 1)) {
					fp_violation(
					    fp, "chained PRP list 0x%" PRIx64 " not page aligned",
					    e[i]);
					return GENERIC(SPIO_NVME_SC_INVALID_PRP_OFFSET);
				}
				list = e[i];
				fp->st.prp_chains++;
				break;
			}
			if (e[i] & (ps - 1)) {
				fp_violation(fp, "PRP list entry %u = 0x%" PRIx64 " has an offset",
					     i, e[i]);
				return GENERIC(SPIO_NVME_SC_INVALID_PRP_OFFSET);
			}
			uint32_t chunk = rem < ps ? rem : ps;
			uint16_t s = add_seg(fp, e[i], chunk);
			if (s != 0) {
				return s;
			}
			rem -= chunk;
		}
	}
	return 0;
}

static uint16_t walk_prp(struct fake_pcie *fp, const struct spio_nvme_cmd *cmd, uint32_t len)
{
	uint64_t prp1 = cmd->dptr.prp.prp1, prp2 = cmd->dptr.prp.prp2;
	uint32_t ps = fp->page_size;
	uint32_t first, rem;
	uint16_t s;

	if (prp1 & 3) {
		fp_violation(fp, "PRP1 0x%" PRIx64 " not dword aligned", prp1);
		return GENERIC(SPIO_NVME_SC_INVALID_PRP_OFFSET);
	}
	first = ps - (uint32_t)(prp1 & (ps - 1));
	first = first < len ? first : len;
	s = add_seg(fp, prp1, first);
	if (s != 0) {
		return s;
	}
	rem = len - first;
	if (rem == 0) {
		return 0;
	}
	if (rem <= ps) {
		if (prp2 & (ps - 1)) {
			fp_violation(fp, "PRP2 0x%" PRIx64 " (second page) has an offset", prp2);
			return GENERIC(SPIO_NVME_SC_INVALID_PRP_OFFSET);
		}
		return add_seg(fp, prp2, rem);
	}
	return walk_prp_list(fp, prp2, rem);
}

static uint16_t sgl_data_block(struct fake_pcie *fp, const struct spio_nvme_sgl_descriptor *d,
			       uint32_t len, uint32_t *total)
{
	uint32_t dl = d->unkeyed.length;

	if (d->unkeyed.subtype != SPIO_NVME_SGL_SUBTYPE_ADDRESS) {
		fp_violation(fp, "SGL data block subtype %u", d->unkeyed.subtype);
		return GENERIC(SPIO_NVME_SC_SGL_DESCRIPTOR_TYPE_INVALID);
	}
	if ((fp->opts.sgls & SPIO_NVME_SGLS_SUPPORT_MASK) == SPIO_NVME_SGLS_DWORD_ALIGNED &&
	    ((d->address & 3) || (dl & 3))) {
		fp_violation(fp, "SGL data block 0x%" PRIx64 "+%u not dword aligned", d->address,
			     dl);
		return GENERIC(SPIO_NVME_SC_SGL_DATA_BLOCK_GRANULARITY_INVALID);
	}
	if (dl > len - *total) {
		fp_violation(fp, "SGL longer than the transfer (%u bytes)", len);
		return GENERIC(SPIO_NVME_SC_DATA_SGL_LENGTH_INVALID);
	}
	if (dl == 0) {
		return 0;
	}
	*total += dl;
	return add_seg(fp, d->address, dl);
}

static uint16_t walk_sgl(struct fake_pcie *fp, const struct spio_nvme_cmd *cmd, uint32_t len)
{
	struct spio_nvme_sgl_descriptor d = cmd->dptr.sgl1;
	uint32_t total = 0;
	uint16_t s;

	fp->st.sgl_cmds++;
	if ((fp->opts.sgls & SPIO_NVME_SGLS_SUPPORT_MASK) == 0) {
		fp_violation(fp, "SGL in a command, but Identify SGLS says none");
		return GENERIC(SPIO_NVME_SC_INVALID_FIELD);
	}
	for (uint32_t hop = 0;; hop++) {
		uint32_t type = d.generic.type, nd;
		bool last_seg = type == SPIO_NVME_SGL_TYPE_LAST_SEGMENT;

		if (type == SPIO_NVME_SGL_TYPE_DATA_BLOCK) {
			s = sgl_data_block(fp, &d, len, &total);
			if (s != 0) {
				return s;
			}
			break;
		}
		if (type != SPIO_NVME_SGL_TYPE_SEGMENT && !last_seg) {
			fp_violation(fp, "SGL descriptor type %u", type);
			return GENERIC(SPIO_NVME_SC_SGL_DESCRIPTOR_TYPE_INVALID);
		}
		if (hop == MAX_SGL_HOPS) {
			fp_violation(fp, "SGL with more than %u segments", MAX_SGL_HOPS);
			return GENERIC(SPIO_NVME_SC_INVALID_NUM_SGL_DESCRIPTORS);
		}
		if (d.unkeyed.subtype != SPIO_NVME_SGL_SUBTYPE_ADDRESS || d.unkeyed.length == 0 ||
		    d.unkeyed.length % 16 != 0 || d.unkeyed.length > sizeof(fp->sgl) ||
		    (d.address & 0xf) != 0) {
			fp_violation(fp, "SGL segment descriptor 0x%" PRIx64 "+%u", d.address,
				     d.unkeyed.length);
			return GENERIC(SPIO_NVME_SC_INVALID_SGL_SEG_DESCRIPTOR);
		}
		const uint8_t *list = fp_dma_ptr(d.address, d.unkeyed.length);
		if (list == NULL) {
			fp_violation(fp, "SGL segment 0x%" PRIx64 " is not DMA memory", d.address);
			return GENERIC(SPIO_NVME_SC_DATA_TRANSFER_ERROR);
		}
		nd = d.unkeyed.length / 16;
		memcpy(fp->sgl, list, d.unkeyed.length);
		for (uint32_t i = 0; i < nd; i++) {
			uint32_t t = fp->sgl[i].generic.type;

			if (t == SPIO_NVME_SGL_TYPE_DATA_BLOCK) {
				if (i == nd - 1 && !last_seg) {
					fp_violation(
					    fp, "SGL segment not ended by a segment descriptor");
					return GENERIC(SPIO_NVME_SC_INVALID_SGL_SEG_DESCRIPTOR);
				}
				s = sgl_data_block(fp, &fp->sgl[i], len, &total);
				if (s != 0) {
					return s;
				}
			} else if ((t == SPIO_NVME_SGL_TYPE_SEGMENT ||
				    t == SPIO_NVME_SGL_TYPE_LAST_SEGMENT) &&
				   i == nd - 1 && !last_seg) {
				d = fp->sgl[i];
			} else {
				fp_violation(fp, "SGL descriptor type %u at %u of %u in a segment",
					     t, i, nd);
				return GENERIC(SPIO_NVME_SC_INVALID_SGL_SEG_DESCRIPTOR);
			}
		}
		if (last_seg) {
			break;
		}
	}
	if (total != len) {
		fp_violation(fp, "SGL describes %u bytes, the command moves %u", total, len);
		return GENERIC(SPIO_NVME_SC_DATA_SGL_LENGTH_INVALID);
	}
	return 0;
}

static uint16_t map_data(struct fake_pcie *fp, const struct spio_nvme_cmd *cmd, uint32_t len,
			 bool admin)
{
	fp->nsegs = 0;
	if (len == 0) {
		return 0;
	}
	switch (cmd->psdt) {
	case SPIO_NVME_PSDT_PRP:
		return walk_prp(fp, cmd, len);
	case SPIO_NVME_PSDT_SGL_MPTR_CONTIG:
	case SPIO_NVME_PSDT_SGL_MPTR_SGL:
		if (admin) {
			fp_violation(fp, "SGL in an admin command (PCIe admin commands use PRPs)");
			return GENERIC(SPIO_NVME_SC_INVALID_FIELD);
		}
		return walk_sgl(fp, cmd, len);
	default:
		fp_violation(fp, "PSDT %u", cmd->psdt);
		return GENERIC(SPIO_NVME_SC_INVALID_FIELD);
	}
}

static void copy_to_host(struct fake_pcie *fp, const uint8_t *src)
{
	for (uint32_t i = 0; i < fp->nsegs; i++) {
		memcpy(fp->segs[i].p, src, fp->segs[i].len);
		src += fp->segs[i].len;
	}
}

static void copy_from_host(struct fake_pcie *fp, uint8_t *dst)
{
	for (uint32_t i = 0; i < fp->nsegs; i++) {
		memcpy(dst, fp->segs[i].p, fp->segs[i].len);
		dst += fp->segs[i].len;
	}
}

static bool same_as_host(struct fake_pcie *fp, const uint8_t *data)
{
	for (uint32_t i = 0; i < fp->nsegs; i++) {
		if (memcmp(data, fp->segs[i].p, fp->segs[i].len) != 0) {
			return false;
		}
		data += fp->segs[i].len;
	}
	return true;
}

/* Send `len` bytes of fp->page to the host through the command's data pointer. */
static uint16_t send_page(struct fake_pcie *fp, const struct spio_nvme_cmd *cmd, uint32_t len)
{
	uint16_t s = map_data(fp, cmd, len, true);

	if (s == 0) {
		copy_to_host(fp, fp->page);
	}
	return s;
}

/* ---- queue commands ---- */

static uint32_t granted_queues(const struct fake_pcie *fp)
{
	uint32_t n = fp->nq_set ? fp->nq_granted : fp->opts.max_io_queues;

	return n < FAKE_PCIE_MAX_IOQ ? n : FAKE_PCIE_MAX_IOQ;
}

static bool any_io_queue(const struct fake_pcie *fp)
{
	for (uint32_t q = 1; q <= FAKE_PCIE_MAX_IOQ; q++) {
		if (fp->sq[q].live || fp->cq[q].live) {
			return true;
		}
	}
	return false;
}

static uint16_t create_queue(struct fake_pcie *fp, const struct spio_nvme_cmd *cmd, bool is_cq)
{
	uint32_t qid = cmd->cdw10_bits.create_io_q.qid;
	uint32_t size = (uint32_t)cmd->cdw10_bits.create_io_q.qsize + 1;
	uint32_t esize = is_cq ? CQE_SIZE : SQE_SIZE;
	uint64_t base = cmd->dptr.prp.prp1;
	struct fq *q = is_cq ? &fp->cq[qid] : &fp->sq[qid];
	bool pc = is_cq ? cmd->cdw11_bits.create_io_cq.pc : cmd->cdw11_bits.create_io_sq.pc;
	uint32_t cqid = cmd->cdw11_bits.create_io_sq.cqid;
	bool ien = is_cq && cmd->cdw11_bits.create_io_cq.ien;
	uint32_t iv = cmd->cdw11_bits.create_io_cq.iv;

	if (qid == 0 || qid > granted_queues(fp) || q->live) {
		return SPECIFIC(SPIO_NVME_SC_INVALID_QUEUE_IDENTIFIER);
	}
	if (size < 2 || size > (uint32_t)fp->opts.mqes + 1) {
		return SPECIFIC(SPIO_NVME_SC_INVALID_QUEUE_SIZE);
	}
	if (!pc) {
		/* CAP.CQR=1: the controller takes only physically contiguous queues. */
		fp_violation(fp, "create queue %u with PC=0 while CAP.CQR=1", qid);
		return GENERIC(SPIO_NVME_SC_INVALID_FIELD);
	}
	/* The vector must exist in the MSI-X table (enabled or not). */
	if (is_cq && ien && iv >= fp->opts.msix_vectors) {
		return SPECIFIC(SPIO_NVME_SC_INVALID_INTERRUPT_VECTOR);
	}
	if (!is_cq && (cqid == 0 || cqid > FAKE_PCIE_MAX_IOQ || !fp->cq[cqid].live)) {
		return SPECIFIC(SPIO_NVME_SC_COMPLETION_QUEUE_INVALID);
	}
	if (base == 0 || (base & (fp->page_size - 1))) {
		fp_violation(fp, "queue %u base 0x%" PRIx64 " not page aligned", qid, base);
		return GENERIC(SPIO_NVME_SC_INVALID_PRP_OFFSET);
	}
	uint8_t *ring = fp_dma_ptr(base, (uint64_t)size * esize);
	if (ring == NULL) {
		fp_violation(fp, "queue %u ring 0x%" PRIx64 " is not DMA memory", qid, base);
		return GENERIC(SPIO_NVME_SC_DATA_TRANSFER_ERROR);
	}
	memset(q, 0, sizeof(*q));
	q->live = true;
	q->ring = ring;
	q->size = size;
	q->phase = 1;
	if (is_cq) {
		q->ien = ien;
		q->iv = (uint16_t)iv;
		wr32(fp, cq_db(fp, qid), 0);
	} else {
		q->cqid = (uint16_t)cqid;
		fp->cq[cqid].nsq++;
		wr32(fp, sq_db(fp, qid), 0);
	}
	return 0;
}

static uint16_t delete_queue(struct fake_pcie *fp, const struct spio_nvme_cmd *cmd, bool is_cq)
{
	uint32_t qid = cmd->cdw10_bits.delete_io_q.qid;
	struct fq *q;

	if (qid == 0 || qid > FAKE_PCIE_MAX_IOQ) {
		return SPECIFIC(SPIO_NVME_SC_INVALID_QUEUE_IDENTIFIER);
	}
	q = is_cq ? &fp->cq[qid] : &fp->sq[qid];
	if (!q->live) {
		return SPECIFIC(SPIO_NVME_SC_INVALID_QUEUE_IDENTIFIER);
	}
	if (is_cq) {
		if (q->nsq > 0) {
			return SPECIFIC(SPIO_NVME_SC_INVALID_QUEUE_DELETION);
		}
		wr32(fp, cq_db(fp, qid), 0);
	} else {
		fp->cq[q->cqid].nsq--;
		wr32(fp, sq_db(fp, qid), 0);
		/* Its commands are all completed or aborted when the delete completes. */
		fp_abort_held(fp, (int)qid);
	}
	memset(q, 0, sizeof(*q));
	return 0;
}

/* ---- admin commands ---- */

static void pad_copy(char *dst, size_t n, const char *src)
{
	size_t l = strlen(src);

	memset(dst, ' ', n);
	memcpy(dst, src, l < n ? l : n);
}

static void build_cdata(struct fake_pcie *fp)
{
	struct spio_nvme_ctrlr_data *cd = (struct spio_nvme_ctrlr_data *)fp->page;

	memset(cd, 0, sizeof(*cd));
	cd->vid = 0x1b36;
	cd->ssvid = 0x1af4;
	pad_copy(cd->sn, sizeof(cd->sn), FAKE_PCIE_SN);
	pad_copy(cd->mn, sizeof(cd->mn), FAKE_PCIE_MN);
	pad_copy(cd->fr, sizeof(cd->fr), "1.0");
	cd->rab = 6;
	cd->mdts = fp->opts.mdts;
	cd->cntlid = 1;
	cd->ver.raw = fp->vs;
	cd->oaes = SPIO_NVME_OAES_NS_ATTRIBUTE_NOTICES;
	cd->acl = 3;
	cd->aerl = fp->opts.aerl;
	cd->frmw.num_slots = 1;
	cd->elpe = 3;
	cd->sqes = 0x66;
	cd->cqes = 0x44;
	cd->nn = FAKE_PCIE_MAX_NS;
	cd->oncs.compare = 1;
	cd->oncs.dsm = 1;
	cd->oncs.write_zeroes = 1;
	cd->vwc.present = fp->opts.vwc;
	cd->sgls = fp->opts.sgls;
	snprintf(cd->subnqn, sizeof(cd->subnqn), "nqn.2019-08.org.qemu:%s", FAKE_PCIE_SN);
}

static bool ns_active(const struct fake_pcie *fp, uint32_t nsid)
{
	return nsid >= 1 && nsid <= fp->active_ns;
}

static void build_nsdata(struct fake_pcie *fp, uint32_t nsid)
{
	struct spio_nvme_ns_data *nd = (struct spio_nvme_ns_data *)fp->page;

	memset(nd, 0, sizeof(*nd));
	if (!ns_active(fp, nsid)) {
		return; /* an inactive namespace identifies as zeros */
	}
	nd->nsze = nd->ncap = nd->nuse = fp->nblocks;
	nd->nlbaf = 1;
	nd->flbas.format = fp->opts.block_size == 4096 ? 1 : 0;
	nd->dlfeat.read_value = 1; /* deallocated blocks read as zeros */
	nd->lbaf[0].lbads = 9;
	nd->lbaf[1].lbads = 12;
	nd->nguid[0] = 0xfa;
	nd->nguid[15] = (uint8_t)nsid;
}

static uint16_t identify(struct fake_pcie *fp, const struct spio_nvme_cmd *cmd)
{
	uint32_t nsid = cmd->nsid;

	switch (cmd->cdw10_bits.identify.cns) {
	case SPIO_NVME_IDENTIFY_CTRLR:
		build_cdata(fp);
		break;
	case SPIO_NVME_IDENTIFY_NS:
		if (nsid == 0 || (nsid > FAKE_PCIE_MAX_NS && nsid != SPIO_NVME_GLOBAL_NS_TAG)) {
			return GENERIC(SPIO_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
		}
		build_nsdata(fp, nsid);
		break;
	case SPIO_NVME_IDENTIFY_ACTIVE_NS_LIST: {
		uint32_t *list = (uint32_t *)fp->page, n = 0;

		if (nsid >= 0xfffffffeu) {
			return GENERIC(SPIO_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
		}
		memset(fp->page, 0, sizeof(fp->page));
		for (uint32_t id = nsid + 1; id <= fp->active_ns; id++) {
			list[n++] = id;
		}
		break;
	}
	case SPIO_NVME_IDENTIFY_NS_ID_DESCRIPTOR_LIST: {
		struct spio_nvme_ns_id_desc *d = (struct spio_nvme_ns_id_desc *)fp->page;

		if (!ns_active(fp, nsid)) {
			return GENERIC(SPIO_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
		}
		memset(fp->page, 0, sizeof(fp->page));
		d->nidt = SPIO_NVME_NIDT_UUID;
		d->nidl = SPIO_NVME_NIDT_UUID_LEN;
		memset(d->nid, 0x5a, SPIO_NVME_NIDT_UUID_LEN);
		d->nid[15] = (uint8_t)nsid;
		break;
	}
	default:
		return GENERIC(SPIO_NVME_SC_INVALID_FIELD);
	}
	return send_page(fp, cmd, SPIO_NVME_IDENTIFY_BUFLEN);
}

/* Features the fake accepts and ignores: Set Features succeeds, Get Features reads 0. */
static bool feature_ignored(unsigned fid)
{
	switch (fid) {
	case SPIO_NVME_FEAT_ARBITRATION:
	case SPIO_NVME_FEAT_POWER_MANAGEMENT:
	case SPIO_NVME_FEAT_TEMPERATURE_THRESHOLD:
	case SPIO_NVME_FEAT_ERROR_RECOVERY:
	case SPIO_NVME_FEAT_INTERRUPT_COALESCING:
		return true;
	default:
		return false;
	}
}

static uint16_t set_features(struct fake_pcie *fp, const struct spio_nvme_cmd *cmd, uint32_t *cdw0)
{
	switch (cmd->cdw10_bits.set_features.fid) {
	case SPIO_NVME_FEAT_NUMBER_OF_QUEUES: {
		uint32_t nsq = (cmd->cdw11 & 0xffff) + 1, ncq = (cmd->cdw11 >> 16) + 1;
		uint32_t lim = fp->opts.max_io_queues;

		if (any_io_queue(fp)) {
			return GENERIC(SPIO_NVME_SC_COMMAND_SEQUENCE_ERROR);
		}
		if (nsq == 0x10000 || ncq == 0x10000) {
			return GENERIC(SPIO_NVME_SC_INVALID_FIELD);
		}
		nsq = nsq < lim ? nsq : lim;
		ncq = ncq < lim ? ncq : lim;
		fp->nq_granted = nsq < ncq ? nsq : ncq;
		fp->nq_set = true;
		*cdw0 = (nsq - 1) | ((ncq - 1) << 16);
		return 0;
	}
	case SPIO_NVME_FEAT_ASYNC_EVENT_CONFIGURATION:
		fp->aec = cmd->cdw11;
		return 0;
	case SPIO_NVME_FEAT_VOLATILE_WRITE_CACHE:
		if (!fp->opts.vwc) {
			return GENERIC(SPIO_NVME_SC_INVALID_FIELD);
		}
		fp->vwce = cmd->cdw11 & 1;
		return 0;
	default:
		if (feature_ignored(cmd->cdw10_bits.set_features.fid)) {
			return 0;
		}
		return GENERIC(SPIO_NVME_SC_INVALID_FIELD);
	}
}

static uint16_t get_features(struct fake_pcie *fp, const struct spio_nvme_cmd *cmd, uint32_t *cdw0)
{
	switch (cmd->cdw10_bits.get_features.fid) {
	case SPIO_NVME_FEAT_NUMBER_OF_QUEUES: {
		uint32_t n = granted_queues(fp);

		*cdw0 = (n - 1) | ((n - 1) << 16);
		return 0;
	}
	case SPIO_NVME_FEAT_ASYNC_EVENT_CONFIGURATION:
		*cdw0 = fp->aec;
		return 0;
	case SPIO_NVME_FEAT_VOLATILE_WRITE_CACHE:
		*cdw0 = fp->vwce;
		return 0;
	default:
		if (feature_ignored(cmd->cdw10_bits.get_features.fid)) {
			*cdw0 = 0;
			return 0;
		}
		return GENERIC(SPIO_NVME_SC_INVALID_FIELD);
	}
}

static uint16_t get_log_page(struct fake_pcie *fp, const struct spio_nvme_cmd *cmd)
{
	uint32_t numd = ((cmd->cdw11 & 0xffff) << 16 | (cmd->cdw10 >> 16)) + 1;
	uint64_t off = cmd->cdw12 | ((uint64_t)cmd->cdw13 << 32);
	uint64_t len = (uint64_t)numd * 4;
	uint32_t size;
	uint16_t s;

	memset(fp->page, 0, sizeof(fp->page));
	switch (cmd->cdw10_bits.get_log_page.lid) {
	case SPIO_NVME_LOG_ERROR:
		size = 64 * 4;
		break;
	case SPIO_NVME_LOG_HEALTH_INFORMATION: {
		struct spio_nvme_health_information_page *h = (void *)fp->page;

		h->temperature = 300;
		h->available_spare = 100;
		h->available_spare_threshold = 10;
		size = sizeof(*h);
		break;
	}
	case SPIO_NVME_LOG_FIRMWARE_SLOT:
		fp->page[0] = 1;
		memcpy(fp->page + 8, "1.0     ", 8);
		size = 512;
		break;
	case SPIO_NVME_LOG_CHANGED_NS_LIST:
		/* Reading the list clears it (and re-arms the notice). */
		memcpy(fp->page, fp->changed_ns, fp->n_changed * 4);
		fp->n_changed = 0;
		size = 4096;
		break;
	default:
		return SPECIFIC(SPIO_NVME_SC_INVALID_LOG_PAGE);
	}
	if (off % 4 != 0 || off + len > size) {
		return GENERIC(SPIO_NVME_SC_INVALID_FIELD);
	}
	s = map_data(fp, cmd, (uint32_t)len, true);
	if (s == 0) {
		copy_to_host(fp, fp->page + off);
	}
	return s;
}

static uint16_t admin_cmd(struct fake_pcie *fp, const struct spio_nvme_cmd *cmd, struct result *r)
{
	fp->st.admin_cmds[cmd->opc]++;
	if (cmd->psdt != SPIO_NVME_PSDT_PRP) {
		fp_violation(fp, "admin opcode 0x%x with PSDT %u", cmd->opc, cmd->psdt);
		return GENERIC(SPIO_NVME_SC_INVALID_FIELD);
	}
	switch (cmd->opc) {
	case SPIO_NVME_OPC_IDENTIFY:
		return identify(fp, cmd);
	case SPIO_NVME_OPC_SET_FEATURES:
		return set_features(fp, cmd, &r->cpl.cdw0);
	case SPIO_NVME_OPC_GET_FEATURES:
		return get_features(fp, cmd, &r->cpl.cdw0);
	case SPIO_NVME_OPC_GET_LOG_PAGE:
		return get_log_page(fp, cmd);
	case SPIO_NVME_OPC_CREATE_IO_CQ:
		return create_queue(fp, cmd, true);
	case SPIO_NVME_OPC_CREATE_IO_SQ:
		return create_queue(fp, cmd, false);
	case SPIO_NVME_OPC_DELETE_IO_SQ:
		return delete_queue(fp, cmd, false);
	case SPIO_NVME_OPC_DELETE_IO_CQ:
		return delete_queue(fp, cmd, true);
	case SPIO_NVME_OPC_ABORT:
		/* Commands complete as soon as they are fetched: nothing to abort. */
		r->cpl.cdw0 = 1;
		return 0;
	case SPIO_NVME_OPC_ASYNC_EVENT_REQUEST:
		if (fp->n_aers > fp->opts.aerl || fp->n_aers == MAX_HELD_AERS) {
			return SPECIFIC(SPIO_NVME_SC_ASYNC_EVENT_REQUEST_LIMIT_EXCEEDED);
		}
		fp->aer_cids[fp->n_aers++] = cmd->cid;
		r->post = false;
		return 0;
	default:
		return GENERIC(SPIO_NVME_SC_INVALID_OPCODE);
	}
}

/* ---- I/O commands ---- */

static uint16_t lba_range(const struct fake_pcie *fp, uint64_t slba, uint64_t nlb)
{
	if (slba >= fp->nblocks || nlb > fp->nblocks - slba) {
		return GENERIC(SPIO_NVME_SC_LBA_OUT_OF_RANGE);
	}
	return 0;
}

static uint16_t io_rw(struct fake_pcie *fp, const struct spio_nvme_cmd *cmd, uint8_t *ns)
{
	uint64_t slba = cmd->cdw10 | ((uint64_t)cmd->cdw11 << 32);
	uint64_t nlb = (uint64_t)cmd->cdw12_bits.rw.nlb + 1;
	uint64_t bytes = nlb * fp->opts.block_size;
	uint8_t *data = ns + slba * fp->opts.block_size;
	uint16_t s = lba_range(fp, slba, nlb);

	if (s != 0) {
		return s;
	}
	if (bytes > fp->max_xfer) {
		fp_violation(fp, "transfer of %" PRIu64 " bytes above MDTS (%u)", bytes,
			     fp->max_xfer);
		return GENERIC(SPIO_NVME_SC_INVALID_FIELD);
	}
	s = map_data(fp, cmd, (uint32_t)bytes, false);
	if (s != 0) {
		return s;
	}
	fp->st.io_bytes += bytes;
	switch (cmd->opc) {
	case SPIO_NVME_OPC_READ:
		copy_to_host(fp, data);
		return 0;
	case SPIO_NVME_OPC_WRITE:
		copy_from_host(fp, data);
		return 0;
	default:
		return same_as_host(fp, data)
			   ? 0
			   : STATUS(SPIO_NVME_SCT_MEDIA_ERROR, SPIO_NVME_SC_COMPARE_FAILURE);
	}
}

static uint16_t io_dsm(struct fake_pcie *fp, const struct spio_nvme_cmd *cmd, uint8_t *ns)
{
	uint32_t nr = (cmd->cdw10 & 0xff) + 1;
	const struct spio_nvme_dsm_range *r = (const struct spio_nvme_dsm_range *)fp->page;
	uint16_t s = map_data(fp, cmd, nr * 16, false);

	if (s != 0) {
		return s;
	}
	copy_from_host(fp, fp->page);
	for (uint32_t i = 0; i < nr; i++) {
		s = lba_range(fp, r[i].starting_lba, r[i].length);
		if (s != 0) {
			return s;
		}
	}
	if (cmd->cdw11 & SPIO_NVME_DSM_ATTR_DEALLOCATE) {
		for (uint32_t i = 0; i < nr; i++) {
			memset(ns + r[i].starting_lba * fp->opts.block_size, 0,
			       (size_t)r[i].length * fp->opts.block_size);
		}
	}
	return 0;
}

static uint16_t io_cmd(struct fake_pcie *fp, const struct spio_nvme_cmd *cmd)
{
	uint8_t *ns = ns_active(fp, cmd->nsid) ? fp->ns[cmd->nsid - 1] : NULL;

	fp->st.io_cmds[cmd->opc]++;
	if (cmd->opc == SPIO_NVME_OPC_FLUSH && cmd->nsid == SPIO_NVME_GLOBAL_NS_TAG) {
		return 0;
	}
	if (ns == NULL) {
		return GENERIC(SPIO_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
	}
	switch (cmd->opc) {
	case SPIO_NVME_OPC_READ:
	case SPIO_NVME_OPC_WRITE:
	case SPIO_NVME_OPC_COMPARE:
		return io_rw(fp, cmd, ns);
	case SPIO_NVME_OPC_FLUSH:
		return 0;
	case SPIO_NVME_OPC_WRITE_ZEROES: {
		uint64_t slba = cmd->cdw10 | ((uint64_t)cmd->cdw11 << 32);
		uint64_t nlb = (uint64_t)cmd->cdw12_bits.write_zeroes.nlb + 1;
		uint16_t s = lba_range(fp, slba, nlb);

		if (s == 0) {
			memset(ns + slba * fp->opts.block_size, 0, nlb * fp->opts.block_size);
		}
		return s;
	}
	case SPIO_NVME_OPC_DATASET_MANAGEMENT:
		return io_dsm(fp, cmd, ns);
	default:
		return GENERIC(SPIO_NVME_SC_INVALID_OPCODE);
	}
}

/* ---- one command ---- */

void fp_execute(struct fake_pcie *fp, uint16_t qid, const struct spio_nvme_cmd *cmd,
		struct result *r)
{
	uint16_t s;

	memset(r, 0, sizeof(*r));
	r->post = true;
	r->cpl.cid = cmd->cid;
	r->cpl.sqid = qid;
	if (fp->fail_armed && fault_matches(fp->fail_qid, qid)) {
		fp->fail_armed = false;
		s = fp->fail_status;
	} else if (qid == 0) {
		s = admin_cmd(fp, cmd, r);
	} else {
		s = io_cmd(fp, cmd);
	}
	r->cpl.status.sct = s >> 8;
	r->cpl.status.sc = s & 0xff;
	if (s != 0) {
		r->cpl.status.dnr = 1;
	}
	if (fp->drop_armed && fault_matches(fp->drop_qid, qid)) {
		fp->drop_armed = false;
		r->post = false;
	}
}
